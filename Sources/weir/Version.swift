/// The version `weir --version` prints. A source checkout says `dev`; `scripts/package.sh` builds
/// from an exported copy of the tree in which it replaces this line with `git describe`'s answer.
let weirVersion = "0.0.0-dev"
