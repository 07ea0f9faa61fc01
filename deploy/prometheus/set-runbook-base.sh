#!/bin/sh
# Points every alert's runbook_url at your copy of the runbooks: <base>#<section>, in the rule file and
# in the PrometheusRule alike (test/deploy checks they stay identical). The sections are the headings of
# docs/operations.md, "Troubleshooting by symptom" (e.g. #cable-down).
#   deploy/prometheus/set-runbook-base.sh https://wiki.example.com/hawser/operations
set -eu
[ $# -eq 1 ] || { echo "usage: $0 BASE_URL   (absolute, e.g. https://wiki.example.com/hawser/operations)" >&2; exit 2; }
case "$1" in http://*|https://*) ;; *) echo "$0: $1 is not an absolute http(s) URL" >&2; exit 2;; esac
case "$1" in *'#'*|*'|'*) echo "$0: the base must not contain '#' or '|'" >&2; exit 2;; esac
here=$(dirname "$0")
for f in "$here/hawser-alerts.yaml" "$here/../monitoring/prometheusrule.yaml"; do
  sed -i -E "s|(runbook_url: \")[^\"#]*#|\\1$1#|" "$f"
done
