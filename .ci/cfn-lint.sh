#!/usr/bin/env bash
# Lints every CloudFormation / SAM template of the repository with cfn-lint (installed from
# PyPI). cfn-lint runs the SAM transform itself, so AWS::Serverless::* resources (the
# Managed Instances AWS::Serverless::CapacityProvider included) are checked as the
# CloudFormation they become. No rule is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

# 1.51, the release this was checked with, knows AWS::Lambda::CapacityProvider and the
# functions' CapacityProviderConfig (Lambda Managed Instances).
python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'cfn-lint>=1.51,<2'
# pip may put the script where PATH does not look yet (a fresh pyenv, a user install).
if ! command -v cfn-lint >/dev/null 2>&1; then
    PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])'):$PATH"
fi
cfn-lint --version

mapfile -t templates < <(find examples -path '*/sam/*' \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
if [ "${#templates[@]}" -eq 0 ]; then
    echo "cfn-lint: no template found under examples/sam/" >&2
    exit 1
fi

passed=0
failed=0
for template in "${templates[@]}"; do
    if cfn-lint -- "$template"; then
        echo "ok   $template"
        passed=$((passed + 1))
    else
        echo "FAIL $template"
        failed=$((failed + 1))
    fi
done
echo "cfn-lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
