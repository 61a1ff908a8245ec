#!/bin/sh
# A fake target system for the password-rotation example: it keeps one account's password in
# a file, accepts a change when given the current password, and answers logins. Secrets come
# on stdin, never in arguments (which any user can read in ps).
#
#   fake-target.sh change    stdin: current password, new password (one per line)
#   fake-target.sh login     stdin: password; exit 0 when it is the current one
#
# To simulate a target that accepts a change but then refuses the new password (so the
# workflow must notify operators and keep the old one), create $WEIR_STATE_DIR/fake-target/break-login.
set -eu
umask 077
dir="${WEIR_STATE_DIR:?}/fake-target"
mkdir -p "$dir"
current=$(cat "$dir/password" 2>/dev/null || true)
case "${1:-}" in
  change)
    IFS= read -r old || true
    IFS= read -r new || true
    [ -n "$new" ] || { echo "fake-target: empty new password" >&2; exit 2; }
    if [ "$current" = "$new" ]; then exit 0; fi   # already applied (a retried change)
    if [ -n "$current" ] && [ "$current" != "$old" ]; then
      echo "fake-target: current password does not match" >&2
      exit 3
    fi
    printf '%s\n' "$new" >"$dir/password.tmp" && mv "$dir/password.tmp" "$dir/password"
    ;;
  login)
    IFS= read -r given || true
    [ ! -e "$dir/break-login" ] && [ -n "$current" ] && [ "$given" = "$current" ]
    ;;
  *)
    echo "usage: fake-target.sh change|login (secrets on stdin)" >&2
    exit 64
    ;;
esac
