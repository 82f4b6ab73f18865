//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!`
//! embeds `migrations/` at compile time, and Cargo does not know to watch it
//! (a new migration file alone would otherwise be left out of the binary).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
