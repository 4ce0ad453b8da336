#!/bin/sh
# Creates the ferry system user and its state directory, then tells systemd
# about the unit. The service is not enabled or started: edit
# /etc/ferry/ferry.yaml first, then `systemctl enable --now ferry-serve`.
set -e
if ! getent group ferry >/dev/null 2>&1; then
	groupadd --system ferry 2>/dev/null || addgroup --system ferry
fi
if ! getent passwd ferry >/dev/null 2>&1; then
	useradd --system --gid ferry --home-dir /var/lib/ferry --no-create-home \
		--shell /usr/sbin/nologin --comment "ferry migration service" ferry 2>/dev/null ||
		adduser --system --ingroup ferry --home /var/lib/ferry --no-create-home \
			--shell /usr/sbin/nologin ferry
fi
mkdir -p /var/lib/ferry
chown ferry:ferry /var/lib/ferry
chmod 0750 /var/lib/ferry
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
