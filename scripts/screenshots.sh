#!/usr/bin/env bash
# Takes the README's screenshots from the real pages: the browser journeys save them into
# docs/img/ when BELONG_SCREENSHOTS is set (headless Chromium, 1280 px wide).
set -euo pipefail
cd "$(dirname "$0")/.."
BELONG_SCREENSHOTS=1 CI=true cargo test --test web -- \
    an_employee_finds_joins_waits_and_leaves a_lead_approves_a_member \
    a_lead_publishes_a_changed_privacy_notice
ls -l docs/img/
