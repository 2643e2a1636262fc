#!/usr/bin/env bash
# Stops the stack and removes its data and logs. Downloads stay cached ($SENTISTREAM_CACHE).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$LOCAL_DIR/down.sh"
for link in "$STACK_DIR"/*; do
	[ -L "$link" ] && rm -rf "$(readlink -f "$link")"
done
rm -rf "$STACK_DIR"
log "removed $STACK_DIR (downloads kept in $SENTISTREAM_CACHE)"
