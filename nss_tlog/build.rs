// glibc dlopens NSS modules by soname: give the cdylib the soname it is installed under.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_tlog.so.2");
}
