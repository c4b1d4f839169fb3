# jq helpers for the bench scripts' tables, over an array of result records
# ({name, workload, round, iops, ...}): jq -L tests/bench -rs 'include "tables"; ...'

# The median of an array of numbers (the lower middle one for an even count); null for none.
def med: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;

# A number with two decimals, or "-" for null.
def r2(x): if x == null then "-" else ((x * 100 | round) / 100 | tostring) end;

# The records of tool n.
def one(n): map(select(.name == n));

# The median over rounds of a's IOPS / b's IOPS in the same round (rounds share the machine's noise).
def ratio(a; b): [group_by(.round)[] | (one(a)[0].iops) as $x | (one(b)[0].iops) as $y
                  | select($x != null and $y != null and $y > 0) | $x / $y] | med;

# production.sh's disk tables: a header, then per workload a cell for each of fio, ggaoed and vblade.
# cell turns that tool's records that pass has (never none) into text; "-" where none do.
def per_tool_table(has; cell):
  (group_by(.workload) | sort_by(.[0].workload)) as $rows
  | ["workload", "fio", "ggaoed", "vblade -d"],
    ($rows[] | [.[0].workload, (("fio", "ggaoed", "vblade") as $n | map(select(.name == $n and has))
                                | if length == 0 then "-" else cell end)])
  | @tsv;
