#!/bin/sh
# Keep Patroni running without systemd (containers; Debian's init script knows one configuration only): start it in the background once, as USER, with the
# variables of ENV_FILE (or - for none), logging to LOG; the pid is kept in PID_FILE. Prints "running" when it
# already runs (nothing done), "started" when it was started. "restart" stops the daemon of PID_FILE first.
# Usage: daemon.sh start|restart PID_FILE USER ENV_FILE LOG COMMAND [ARG...]
set -eu
action=$1 pidfile=$2 user=$3 envfile=$4 log=$5
shift 5
# The pid file's process is ours only while it runs COMMAND (after a container restart the pid may be another's).
alive() {
    [ -f "$pidfile" ] && [ -r "/proc/$(cat "$pidfile")/cmdline" ] \
        && tr '\0' ' ' <"/proc/$(cat "$pidfile")/cmdline" | grep -qF -- "$1"
}
if [ "$action" = restart ] && alive "$1"; then
    pid=$(cat "$pidfile")
    kill "$pid"
    tries=0
    while kill -0 "$pid" 2>/dev/null && [ "$tries" -lt 300 ]; do sleep 0.1; tries=$((tries + 1)); done
elif alive "$1"; then
    echo running
    exit 0
fi
if [ "$envfile" != - ]; then
    set -a
    . "$envfile"
    set +a
fi
touch "$log"
chown "$user" "$log"
# setsid: the daemon outlives the Ansible task's session; runuser: it runs as USER with the variables above.
setsid runuser -u "$user" -- "$@" >>"$log" 2>&1 </dev/null &
echo $! >"$pidfile"
sleep 1
if ! alive "$1"; then
    echo "$1 exited at once; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
fi
echo started
