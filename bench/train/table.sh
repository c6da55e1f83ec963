#!/bin/sh
# bench/train/table.sh CHORUS.txt PEER.txt OUT.csv — joins two "case<TAB>value" files into the
# "case chorus peer ratio" table (stdout) and OUT.csv. Cases whose name ends in _ms or _mb are
# lower-is-better (ratio = peer / chorus), the rest higher-is-better (ratio = chorus / peer);
# either way ratio > 1 means chorus is better. Shared by bench/train and bench/infer.
set -u
mkdir -p "$(dirname "$3")"
echo "case,chorus,peer,ratio" > "$3"
printf '%-26s %12s %12s %8s\n' case chorus peer ratio
while IFS="$(printf '\t')" read -r name val; do
    peer=$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$2")
    if [ -z "$peer" ]; then
        printf '%-26s %12s %12s %8s\n' "$name" "$val" - -
        echo "$name,$val,," >> "$3"
        continue
    fi
    ratio=$(awk -v a="$val" -v b="$peer" -v n="$name" 'BEGIN {
        lower = (n ~ /_ms$/ || n ~ /_mb$/); r = lower ? b / a : a / b; printf "%.2f", r }')
    printf '%-26s %12s %12s %7sx\n' "$name" "$val" "$peer" "$ratio"
    echo "$name,$val,$peer,$ratio" >> "$3"
done < "$1"
echo "(wrote $3; ratio > 1: chorus better — samples/s chorus/peer, ms and MB peer/chorus)"
