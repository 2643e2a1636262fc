#!/usr/bin/env bash
# Stops the stack and removes its data and logs. Downloads stay cached ($SENTISTREAM_CACHE).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$LOCAL_DIR/down.sh"
for link in "$STACK_DIR"/* "$STACK_DIR"/secure/*; do
	if [ -L "$link" ]; then
		target=$(readlink -f "$link")
		rm -rf "$target"
		rmdir --ignore-fail-on-non-empty "$(dirname "$target")"
	fi
done
rm -rf "$STACK_DIR"
log "removed $STACK_DIR (downloads kept in $SENTISTREAM_CACHE)"
