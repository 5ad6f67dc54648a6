//! The help text of `tlog-rs rules`.

pub(super) const USAGE: &str = "\
usage: tlog-rs rules [--policy FILE] [--bind-dn DN --password-file FILE] VERB ...

  list                       every rule, one per line
  show NAME                  one rule in full
  add NAME SELECTORS [SETTINGS] [--disabled]
  mod NAME [SELECTORS] [SETTINGS]
  del NAME
  enable NAME | disable NAME

Selectors (comma-separated names; repeatable; '' clears; 'all' = category all):
  --users U,..|all  --groups G,..   --hosts FQDN,..|all  --hostgroups HG,..
  --services S,..|all  --servicegroups SG,..   --hbac-rule NAME (instead of
  all selectors: use that HBAC rule's users, hosts and services)
Settings ('none' unsets):
  --priority N (lower wins)  --mode record|exempt  --audit none|login|session
  --log-input yes|no  --log-output yes|no  --log-window yes|no
  --rate BYTES/S  --burst BYTES  --action pass|delay|drop  --description TEXT
  --access-time none (mod only: remove a time limit; tlog-rs does not evaluate
  accessTime, so it refuses to set one: a time-limited exemption never
  applies, a time-limited record rule records at all times)

The connection comes from [freeipa.ldap] in the policy file (default
/etc/tlog-rs/policy.toml); --bind-dn/--password-file bind as an administrator
instead. Exit status: 0 done, 1 server refused or failed, 2 invalid input.";
