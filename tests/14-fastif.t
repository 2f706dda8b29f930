#!/bin/bash
# The fastif front-end: lists every tool and runs one by name, also where
# the shell has a builtin of that name.
. "$(dirname "$0")/lib.sh"
want=$(ls "$TOP"/bin/*.c | xargs -n1 basename | sed 's/\.c$//' | grep -vx fastif | sort | tr '\n' ' ')
is "$(fastif --list | tr '\n' ' ')" "$want" "--list names every tool"
like "$(bash -c 'fastif eval --help' 2>&1 | head -1)" "^eval - predict" "fastif eval reaches the tool, not the shell builtin"
printf '\x81\xa2id\xa1a' > "$T/one.mp"
is "$(fastif pick --head 1 "$T/one.mp" 2>/dev/null | fastif dump 2>/dev/null)" '{"id":"a"}' "arguments pass through unchanged"
run fastif no-such-tool
is "$rc" "2" "an unknown tool is a usage error"
run fastif ../bin/pick
is "$rc" "2" "a path is not a tool name"
done_testing
