#!/usr/bin/env bash
# `make rules` (part of `make test`): Prometheus's own checks of the shipped configuration and
# rules, and the unit tests of every alert (rules_test.yml). Installs Debian's prometheus
# package, which brings promtool, when promtool is missing.
. "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"
command -v promtool >/dev/null || apt_install prometheus
cd "$(dirname "${BASH_SOURCE[0]}")"
promtool check config prometheus.yml
promtool test rules rules_test.yml
