#!/bin/sh
# Stops and disables the service when the package is removed (not on upgrade:
# deb passes "upgrade", rpm a count of 1). The ferry user, its state directory
# (journals, checkpoints, failure manifests) and /etc/ferry are kept.
set -e
case "$1" in
remove | purge | 0)
	if [ -d /run/systemd/system ]; then
		systemctl stop ferry-serve.service >/dev/null 2>&1 || true
		systemctl disable ferry-serve.service >/dev/null 2>&1 || true
	fi
	;;
esac
