//! Every other NSS entry point glibc asks a module for, answering UNAVAIL,
//! exactly as if it were absent.
//!
//! Why: when glibc loads a module it `dlsym`s all ~68 `_nss_<name>_<fn>`
//! names. A name the module lacks is searched for in every library in scope
//! (libgcc_s, libc, ld.so) and then formatted into a dlerror message: about
//! a fifth of the instructions our first lookup in a new process costs.
//! glibc treats a missing function as UNAVAIL; these do the same, and are
//! only ever called if an admin lists `tlog` for another database.

use tlog_rs_nss::{nss_status, NSS_STATUS_UNAVAIL};

macro_rules! unavailable {
    ($($name:ident)*) => {$(
        /// Not provided (see the module comment). Takes no arguments: the
        /// C caller's arguments are ignored, which the C ABI allows.
        #[no_mangle]
        pub extern "C" fn $name() -> nss_status {
            NSS_STATUS_UNAVAIL
        }
    )*};
}

// glibc 2.36 nss/function.def, minus the passwd functions lib.rs defines.
unavailable! {
    _nss_tlog_endaliasent _nss_tlog_endetherent _nss_tlog_endgrent
    _nss_tlog_endhostent _nss_tlog_endnetent _nss_tlog_endnetgrent
    _nss_tlog_endprotoent _nss_tlog_endrpcent _nss_tlog_endservent
    _nss_tlog_endsgent _nss_tlog_endspent _nss_tlog_getaliasbyname_r
    _nss_tlog_getaliasent_r _nss_tlog_getcanonname_r _nss_tlog_getetherent_r
    _nss_tlog_getgrent_r _nss_tlog_getgrgid_r _nss_tlog_getgrnam_r
    _nss_tlog_gethostbyaddr2_r _nss_tlog_gethostbyaddr_r
    _nss_tlog_gethostbyname2_r _nss_tlog_gethostbyname3_r
    _nss_tlog_gethostbyname4_r _nss_tlog_gethostbyname_r
    _nss_tlog_gethostent_r _nss_tlog_gethostton_r _nss_tlog_getnetbyaddr_r
    _nss_tlog_getnetbyname_r _nss_tlog_getnetent_r _nss_tlog_getnetgrent_r
    _nss_tlog_getntohost_r _nss_tlog_getprotobyname_r
    _nss_tlog_getprotobynumber_r _nss_tlog_getprotoent_r
    _nss_tlog_getpublickey _nss_tlog_getrpcbyname_r
    _nss_tlog_getrpcbynumber_r _nss_tlog_getrpcent_r _nss_tlog_getsecretkey
    _nss_tlog_getservbyname_r _nss_tlog_getservbyport_r
    _nss_tlog_getservent_r _nss_tlog_getsgent_r _nss_tlog_getsgnam_r
    _nss_tlog_getspent_r _nss_tlog_getspnam_r _nss_tlog_initgroups_dyn
    _nss_tlog_netname2user _nss_tlog_setaliasent _nss_tlog_setetherent
    _nss_tlog_setgrent _nss_tlog_sethostent _nss_tlog_setnetent
    _nss_tlog_setnetgrent _nss_tlog_setprotoent _nss_tlog_setrpcent
    _nss_tlog_setservent _nss_tlog_setsgent _nss_tlog_setspent
}
