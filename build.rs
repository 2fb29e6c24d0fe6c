//! `sqlx::migrate!` embeds the migrations when the crate compiles; without this, adding or
//! changing a migration would not rebuild the crate, and a stale binary would run without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
