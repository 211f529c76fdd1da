#!/usr/bin/env bash
# Lints every CloudFormation / SAM template of the repository, with the cfn-lint and the
# aws-sam-translator pinned in .ci/requirements.txt (from CI's virtual environment, made or
# refreshed by .ci/venv.sh; never the machine's Python). No rule is ignored. Each template is
# checked twice:
#   1. cfn-lint on the template itself. cfn-lint 1.54 and later check AWS::Serverless::*
#      resources (the Managed Instances AWS::Serverless::CapacityProvider included) against
#      SAM schemas of their own, without running the SAM transform;
#   2. the SAM transform (aws-sam-translator, what `sam deploy` runs; .ci/sam-translate.py),
#      which must accept the template, then cfn-lint on the CloudFormation it produces.
set -euo pipefail
cd "$(dirname "$0")/.."

CI_VENV="${CI_VENV:-.ci/venv}"
case $CI_VENV in /*) ;; *) CI_VENV="$PWD/$CI_VENV" ;; esac
export CI_VENV
bash .ci/venv.sh
cfn_lint="$CI_VENV/bin/cfn-lint"
python="$CI_VENV/bin/python"
"$cfn_lint" --version

mapfile -t templates < <(find examples -path '*/sam/*' \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
if [ "${#templates[@]}" -eq 0 ]; then
    echo "cfn-lint: no template found under examples/sam/" >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/cfn-lint.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

passed=0
failed=0
for template in "${templates[@]}"; do
    translated="$work/$(basename "${template%.*}").translated.json"
    problems=()
    "$cfn_lint" -- "$template" || problems+=("cfn-lint")
    status=0
    "$python" .ci/sam-translate.py "$template" "$translated" 2>"$work/translate.err" || status=$?
    case $status in
    0)
        "$cfn_lint" -- "$translated" ||
            problems+=("cfn-lint of the SAM-translated template: see it with $python .ci/sam-translate.py $template out.json")
        ;;
    3) ;; # plain CloudFormation: step 1 was all of it
    *)
        cat "$work/translate.err" >&2
        problems+=("SAM transform")
        ;;
    esac
    if [ "${#problems[@]}" -eq 0 ]; then
        echo "ok   $template"
        passed=$((passed + 1))
    else
        printf -v joined '%s; ' "${problems[@]}"
        echo "FAIL $template (${joined%; })"
        failed=$((failed + 1))
    fi
done
echo "cfn-lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
