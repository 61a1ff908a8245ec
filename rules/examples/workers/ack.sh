#!/bin/sh
# A Weir worker (exec mode: worker) in POSIX shell.
#
# Weir writes one request per line on stdin, always starting with the id:
#     {"id":7,"row":{...}}
# and waits for one answer line with the same id:
#     {"id":7,"output":[...]}   or   {"id":7,"error":"why"}
# This one answers with which worker served the request and how many it has served, using
# only shell built-ins (no process is started per request). It exits when stdin ends.
served=0
while IFS= read -r line; do
    id=${line#\{\"id\":}
    id=${id%%,*}
    served=$((served + 1))
    printf '{"id":%s,"output":[{"worker":%s,"served":%s}]}\n' "$id" "$$" "$served"
done
