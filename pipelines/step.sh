#!/usr/bin/env bash
# pipelines/step.sh - the checks around a step of the make graphs and the
# fan-outs: a step never starts on an input that holds no records, and its
# output becomes the target only when it is whole and as long as it should be.
#
#   step.sh begin TARGET [INPUT..]  remove a stale TARGET and TARGET.tmp; every INPUT must hold records
#   step.sh commit TARGET [REF]     rename TARGET.tmp to TARGET if it holds records (as many as
#                                   REF, when given); otherwise remove it and fail
#   step.sh count FILE              FILE's number of records (pick's own error if FILE is bad)
#
# Messages start with $STEP_WHO (default step.sh); pick is $STEP_PICK (default: pick on
# PATH). The fan-outs source this file for the same functions and
# failed_jobs (a failed GNU parallel run's own error lines).
die() { echo "${STEP_WHO:-step.sh}: error: $*" >&2; exit 1; }
tool_errors() { grep -v ': done [0-9]* records\{0,1\}$' "$@" >&2 || true; }   # FILE: a tool's stderr, less its summary

count() { # FILE: its record count on stdout; pick's error lines and exit 1 if unreadable
  local log
  if ! log=$("${STEP_PICK:-pick}" --keep id "$1" 2>&1 > /dev/null); then
    tool_errors <<< "$log"
    die "cannot read the records of $1"
  fi
  sed -n 's/^pick: done \([0-9]*\) records\{0,1\}$/\1/p' <<< "$log"
}

begin() { # TARGET INPUT..
  local t=$1 f
  shift
  rm -f "$t" "$t.tmp"
  for f in "$@"; do
    [ -e "$f" ] || die "$f does not exist: cannot make $t"
    [ -s "$f" ] || die "$f is empty (no records): cannot make $t from it"
  done
}

commit() { # TARGET [REF]
  local t=$1 n m
  if [ ! -s "$t.tmp" ]; then
    rm -f "$t.tmp"
    die "$t: the step wrote no records"
  fi
  if [ $# -gt 1 ]; then
    n=$(count "$t.tmp") || { rm -f "$t.tmp"; exit 1; }
    m=$(count "$2")
    if [ "$n" != "$m" ]; then
      rm -f "$t.tmp"
      die "$t: the step wrote $n records for the $m of $2 (one each expected); not kept"
    fi
  fi
  mv -f "$t.tmp" "$t"
}

failed_jobs() { # JOBLOG: after GNU parallel failed, each failed job's error lines from its
  # log (the file its command writes with `2> NAME.log`), then which job it was
  local code sig cmd log
  while IFS=$'\t' read -r code sig cmd; do
    log=$(grep -o '2> [^ ]*\.log' <<< "$cmd" | sed 's/^2> //' || true)
    if [ -z "$log" ]; then
      echo "${STEP_WHO:-step.sh}: error: job '$cmd' failed (exit $code, signal $sig)" >&2
      continue
    fi
    [ -s "$log" ] && { grep ': error:' "$log" >&2 || tail -n 3 "$log" >&2; }
    echo "${STEP_WHO:-step.sh}: error: job ${log%.log} failed (exit $code, signal $sig; log: $PWD/$log)" >&2
  done < <(awk -F'\t' 'NR > 1 && ($7 != 0 || $8 != 0) { print $7 "\t" $8 "\t" $9 }' "$1")
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case ${1:-} in
    begin | commit | count) [ $# -ge 2 ] || die "usage: step.sh $1 FILE.."; "$@" ;;
    *) sed -n '6,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
fi
