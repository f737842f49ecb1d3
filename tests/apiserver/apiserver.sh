# SPDX-License-Identifier: Apache-2.0
# apiserver.sh: shell helpers for tests that need the test API server
# (sourced, after tests/cli/lib.sh so $TMP and T_PIDS exist).
#   apiserver_start [extra apiserver.py args...]
#       starts it over TLS with a token file in $TMP/apiserver/ and sets
#       APISERVER_URL, APISERVER_PORT, APISERVER_CA, APISERVER_TOKEN_FILE,
#       APISERVER_KUBECONFIG, APISERVER_DIR; returns 1 if it did not come up.
#   apiserver_ctl METHOD PATH [JSON]       control API: /_test/PATH
#   apiserver_api METHOD PATH [JSON [CONTENT-TYPE]]   API call with the current token
#   apiserver_rotate_token                write a new token to the token file
APISERVER_SRC=${LW_SOURCE_DIR:-.}/tests/apiserver

apiserver_start() {
  APISERVER_DIR=$TMP/apiserver
  mkdir -p "$APISERVER_DIR"
  APISERVER_TOKEN_FILE=$APISERVER_DIR/token
  APISERVER_CA=$APISERVER_DIR/tls/ca.crt
  APISERVER_KUBECONFIG=$APISERVER_DIR/kubeconfig
  printf 'tok-%s%s\n' "$RANDOM" "$RANDOM" >"$APISERVER_TOKEN_FILE"
  rm -f "$APISERVER_DIR/port"
  python3 "$APISERVER_SRC/apiserver.py" --port 0 --port-file "$APISERVER_DIR/port" \
    --token-file "$APISERVER_TOKEN_FILE" --tls-dir "$APISERVER_DIR/tls" \
    --kubeconfig-out "$APISERVER_KUBECONFIG" "$@" >"$APISERVER_DIR/server.log" 2>&1 &
  APISERVER_PID=$!
  T_PIDS+=("$APISERVER_PID")
  local _
  for _ in $(seq 1 150); do
    [ -s "$APISERVER_DIR/port" ] && break
    kill -0 "$APISERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  [ -s "$APISERVER_DIR/port" ] || { cat "$APISERVER_DIR/server.log" >&2; return 1; }
  APISERVER_PORT=$(cat "$APISERVER_DIR/port")
  APISERVER_URL=https://127.0.0.1:$APISERVER_PORT
}

apiserver_ctl() {
  curl -sS --cacert "$APISERVER_CA" -X "$1" "$APISERVER_URL/_test/$2" ${3:+-d "$3"}
}

apiserver_api() {
  curl -sS --cacert "$APISERVER_CA" \
    -H "Authorization: Bearer $(tr -d '[:space:]' <"$APISERVER_TOKEN_FILE")" \
    -H "Content-Type: ${4:-application/json}" -X "$1" "$APISERVER_URL$2" ${3:+-d "$3"}
}

apiserver_rotate_token() {
  printf 'tok-rotated-%s%s\n' "$RANDOM" "$RANDOM" >"$APISERVER_TOKEN_FILE.new"
  mv "$APISERVER_TOKEN_FILE.new" "$APISERVER_TOKEN_FILE"
}
