//! Rebuilds when a migration changes: `sqlx::migrate!` embeds the migrations
//! directory, which cargo would not otherwise watch.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
