#!/bin/sh
# A dns-01 exec hook as an operator would write one (lego's calling
# convention): $1 is present or cleanup, $2 the record's name with its
# trailing dot, $3 the TXT value. It logs its arguments to $HOOK_LOG and
# updates the zone at $HOOK_SERVER (host port) with nsupdate, signed with
# the TSIG key $HOOK_KEY_NAME whose secret is in $HOOK_KEY_FILE.
set -eu
echo "$*" >> "$HOOK_LOG"
if [ "${HOOK_FAIL:-}" ]; then
	echo "hook: $HOOK_FAIL" >&2
	exit 3
fi
case "$1" in
present) op="update add $2 60 TXT \"$3\"" ;;
cleanup) op="update delete $2 TXT \"$3\"" ;;
*) echo "hook: unknown action $1" >&2; exit 2 ;;
esac
printf 'server %s\n%s\nsend\n' "$HOOK_SERVER" "$op" |
	nsupdate -y "hmac-sha256:$HOOK_KEY_NAME:$(cat "$HOOK_KEY_FILE")"
