#!/usr/bin/env bash
# FreeIPA: `tlog-rs sync` of 1,000 rules + 10,000 users in 2,000 nested groups
# from a private slapd (loaded offline with slapadd), then the per-login
# decision from the resulting cache, in-process, release build.
# Baselines measured in the same run: `ldapsearch` dumping the same entries the
# sync reads (raw LDAP transfer), and the decision on the 5-rule example cache.
# Targets: sync < 5 s, decision < 20 us. Run as root (SASL EXTERNAL over ldapi).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${CARGO_TARGET_DIR:-target}/release
cargo build --release --quiet -p tlog-rs --bin tlog-rs
cargo build --release --quiet -p tlog-rs-freeipa --example ipa_bench
W=$(mktemp -d /tmp/tlog-rs-bench-freeipa.XXXXXX)
SLAPD_PID=
cleanup() { [ -n "$SLAPD_PID" ] && kill "$SLAPD_PID" 2>/dev/null && wait "$SLAPD_PID" 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
RUNS=5
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
calc() { awk "BEGIN {printf \"%.${2:-3}f\", $1}"; }

mkdir -p "$W/slapd.d" "$W/db"
SOCK="$W/ldapi"; SOCKURL="ldapi://$(printf %s "$SOCK" | sed 's|/|%2F|g')"
{
cat <<C
dn: cn=config
objectClass: olcGlobal
cn: config
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/nis.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

C
cat freeipa-schema/openldap/ipa-compat.ldif; echo
cat freeipa-schema/openldap/sessionrecording.ldif; echo
cat <<C
dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: size.soft=500 size.hard=500 size.prtotal=unlimited

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * break

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $W/db
olcDbMaxSize: 1073741824
olcSuffix: dc=example,dc=test
olcDbIndex: objectClass eq
olcDbIndex: cn,uid eq
olcDbIndex: member eq
olcDbIndex: memberUser,memberHost,memberService eq
olcDbIndex: fqdn,ipaUniqueID eq
olcDbIndex: ipaEnabledFlag,userCategory,hostCategory,serviceCategory eq
olcAccess: {0}to * by dn.exact=gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth manage by * none
C
} > "$W/config.ldif"
"$T/examples/ipa_bench" gen-ldif "$W/data.ldif"
slapadd -F "$W/slapd.d" -n 0 -l "$W/config.ldif"
t0=$(now); slapadd -F "$W/slapd.d" -n 1 -q -l "$W/data.ldif"; t1=$(now)
echo "directory: $(grep -c '^dn:' "$W/data.ldif") entries, slapadd $(calc "$t1 - $t0") s"
slapd -d 0 -F "$W/slapd.d" -h "$SOCKURL" >"$W/slapd.log" 2>&1 &
SLAPD_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done

cat > "$W/sync.toml" <<C
[freeipa]
cache = "$W/cache.json"
[freeipa.ldap]
uris = ["$SOCKURL"]
base_dn = "dc=example,dc=test"
host = "host00.example.test"
bind = "external"
C
base=dc=example,dc=test
raw_dump() {
    for b in cn=groups,cn=accounts cn=hostgroups,cn=accounts cn=sessionrecording cn=hbacservicegroups,cn=hbac; do
        ldapsearch -Q -Y EXTERNAL -H "$SOCKURL" -E pr=500/noprompt -LLL -b "$b,$base" -s one '(objectClass=*)' cn member memberUser memberHost memberService >/dev/null
    done
}
sync_times=(); raw_times=()
for _ in $(seq $RUNS); do
    t0=$(now); "$T/tlog-rs" sync --quiet --policy "$W/sync.toml"; t1=$(now)
    sync_times+=("$(calc "$t1 - $t0")")
    t0=$(now); raw_dump; t1=$(now)
    raw_times+=("$(calc "$t1 - $t0")")
done
sync_med=$(printf '%s\n' "${sync_times[@]}" | median)
raw_med=$(printf '%s\n' "${raw_times[@]}" | median)
echo "sync (1000 rules, 10000 users, 2000 nested groups): median ${sync_med} s over $RUNS runs (target < 5 s)"
echo "baseline ldapsearch of the same containers:         median ${raw_med} s"
echo "ratio sync/ldapsearch: $(calc "$sync_med / $raw_med" 2)"
echo "cache: $(stat -c %s "$W/cache.json") bytes, $(grep -c '"name"' "$W/cache.json") rules for host00"

big=$("$T/examples/ipa_bench" decide "$W/cache.json")
echo "decision from the host00 cache:              $big"
# Baseline: the cache of a host that is in no hostgroup (only hostCategory=all rules).
small_cache="$W/small.json"
sed -e "s|$W/cache.json|$small_cache|" -e 's|host00.example.test|unenrolled.example.test|' "$W/sync.toml" > "$W/small.toml"
"$T/tlog-rs" sync --quiet --policy "$W/small.toml" 2>/dev/null
small=$("$T/examples/ipa_bench" decide "$small_cache")
echo "baseline, cache of an unenrolled host:       $small"
bn=$(echo "$big" | sed -n 's/.*decide_ns=\([0-9]*\).*/\1/p'); sn=$(echo "$small" | sed -n 's/.*decide_ns=\([0-9]*\).*/\1/p')
echo "decision: ${bn} ns (target < 20000 ns); ratio to baseline: $(calc "$bn / $sn" 1)"
