#!/usr/bin/env bash
# switchboard from a terminal, with grpcurl and server reflection (no .proto needed).
#
#   SWITCHBOARD=127.0.0.1:3001 SWITCHBOARD_TOKEN=$(switchboard token --role admin --sub me) \
#     clients/grpcurl/switchboard.sh COMMAND
#
# Commands:
#   list                     services the server offers
#   describe SYMBOL          a service or message, e.g. switchboard.v1.SubscribeRequest
#   state                    calls, agents and queues now
#   stats                    the figures of system_stats, now
#   set-mode MODE            set the system mode (admin)
#   watch [AFTER] [SECONDS]  follow the event stream, resuming after sequence AFTER,
#                            for SECONDS (default: until Ctrl-C)
set -euo pipefail
address="${SWITCHBOARD:-127.0.0.1:3001}"
auth=()
[ -n "${SWITCHBOARD_TOKEN:-}" ] && auth=(-H "authorization: Bearer ${SWITCHBOARD_TOKEN}")
call() { grpcurl -plaintext "${auth[@]}" "$@"; }

case "${1:-}" in
  list) grpcurl -plaintext "$address" list ;;
  describe) grpcurl -plaintext "$address" describe "${2:?symbol}" ;;
  state) call "$address" switchboard.v1.StateService/GetSystemState ;;
  stats) call "$address" switchboard.v1.StateService/GetSystemStats ;;
  set-mode) call -d "{\"mode\": \"${2:?mode}\"}" "$address" switchboard.v1.StateService/SetSystemMode ;;
  watch)
    limit=()
    [ -n "${3:-}" ] && limit=(-max-time "$3")
    # A deadline that ends the watch is the expected way out, not a failure.
    call "${limit[@]}" -d "{\"resumeAfter\": \"${2:-0}\"}" "$address" switchboard.v1.EventService/Subscribe \
      || [ "${#limit[@]}" -gt 0 ]
    ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
