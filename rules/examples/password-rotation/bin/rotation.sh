#!/bin/sh
# The steps of the password-rotation example, one function each (see ../password-rotation.yaml):
#
#   generate  make a new candidate credential          -> emits {rotation_id, target}
#   change    set it on the target (old one to prove)   -> emits {rotation_id, target}
#   verify    log in with it                            -> emits {rotation_id, target, ok}
#   store     keep it in the vault (the old one is archived)
#   restore   put the old one back on the target and drop the candidate (verification failed)
#
# Secrets never travel in events, logs or dead letters: events carry the rotation id, and the
# candidate and the vault are files (mode 600) under $WEIR_STATE_DIR/rotation. Each step reads
# its event as JSON on stdin and is safe to retry.
set -eu
umask 077
here=$(dirname "$0")
dir="${WEIR_STATE_DIR:?}/rotation"
target=${ROTATION_TARGET:-router-1}
mkdir -p "$dir/vault"
input=$(cat)
field() { printf '%s' "$input" | sed -n "s/.*\"$1\":\"\([A-Za-z0-9_.-]*\)\".*/\1/p"; }
say() { echo "rotation: $*" >&2; }

# First run: the vault and the target start from the same (factory) password.
if [ ! -s "$dir/vault/current" ]; then
  printf '%s\n' "factory-default" >"$dir/vault/current"
  printf '%s\n%s\n' "" "factory-default" | "$here/fake-target.sh" change
fi
old=$(cat "$dir/vault/current")

case "${1:-}" in
  generate)
    id=$(date -u +%Y%m%dT%H%M%SZ)-$$
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/candidate-$id"
    say "new candidate for $target (rotation $id)"
    printf '{"rotation_id":"%s","target":"%s"}\n' "$id" "$target"
    ;;
  change)
    id=$(field rotation_id)
    new=$(cat "$dir/candidate-$id")
    printf '%s\n%s\n' "$old" "$new" | "$here/fake-target.sh" change
    say "$target accepted the change (rotation $id)"
    printf '{"rotation_id":"%s","target":"%s"}\n' "$id" "$target"
    ;;
  verify)
    id=$(field rotation_id)
    ok=false
    if cat "$dir/candidate-$id" | "$here/fake-target.sh" login; then ok=true; fi
    say "login to $target with the new credential: $ok (rotation $id)"
    printf '{"rotation_id":"%s","target":"%s","ok":%s}\n' "$id" "$target" "$ok"
    ;;
  store)
    id=$(field rotation_id)
    [ -e "$dir/candidate-$id" ] || exit 0   # already stored (a retried step)
    cp "$dir/vault/current" "$dir/vault/previous-$id"
    mv "$dir/candidate-$id" "$dir/vault/current"
    echo "$id rotated" >>"$dir/history"
    say "stored the new credential for $target (rotation $id)"
    ;;
  restore)
    id=$(field rotation_id)
    if [ -e "$dir/candidate-$id" ]; then
      new=$(cat "$dir/candidate-$id")
      printf '%s\n%s\n' "$new" "$old" | "$here/fake-target.sh" change
      rm -f "$dir/candidate-$id"
    fi
    echo "$id failed; kept the old credential" >>"$dir/history"
    say "verification failed: $target is back on the old credential (rotation $id)"
    ;;
  *)
    say "usage: rotation.sh generate|change|verify|store|restore"
    exit 64
    ;;
esac
