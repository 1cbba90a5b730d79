# Sourced by .ci/ops-checks.sh and .ci/helm-checks.sh: the loop that runs their checks.
#
#   CHECKS=("what it checks:function" ...)
#   run_checks LABEL
#
# Runs every check in order, each function in a bash of its own with -euo pipefail (so any
# failing command fails the check; errexit would not hold in a function called by `if`),
# prints a header and OK/FAILED for each, then "LABEL: N passed, N failed", and returns 1 if
# any failed. The functions see only exported variables.
run_checks() {
  local label=$1 entry name fn passed=0
  local failed=()
  for entry in "${CHECKS[@]}"; do
    name=${entry%%:*}
    fn=${entry##*:}
    printf '\n==> %s: %s\n' "${label%-checks}" "$name"
    if bash -euo pipefail -c "$(declare -f "$fn"); $fn"; then
      echo "OK: $name"
      passed=$((passed + 1))
    else
      echo "FAILED: $name"
      failed+=("$name")
    fi
  done
  echo
  echo "$label: ${passed} passed, ${#failed[@]} failed"
  if [ "${#failed[@]}" -gt 0 ]; then
    printf '  failed: %s\n' "${failed[@]}"
    return 1
  fi
}
