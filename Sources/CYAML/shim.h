// libyaml 0.2 (Debian's libyaml-dev): Weir uses its parser's event API only.
#include <yaml.h>
