//! Store backends for tests: a fresh SQLite file always, and a fresh database on
//! the Postgres server named by `TENEX_TEST_DATABASE_URL` (`./run test` starts a
//! throwaway server and sets it). Without that URL the Postgres half fails with
//! instructions, rather than being skipped; set `TENEX_TEST_POSTGRES=off` to run
//! only SQLite on purpose.

use sqlx::Connection;
use tenex_voice::store::{Backend, Store, new_id};

use super::scratch_dir;

/// A fresh SQLite store.
pub async fn sqlite(name: &str) -> Store {
    let path = scratch_dir(name).join("tenex.db");
    Store::open(&path.to_string_lossy())
        .await
        .expect("open sqlite store")
}

/// A fresh database on the test Postgres server, or `None` when Postgres was
/// turned off on purpose.
pub async fn postgres() -> Option<Store> {
    if std::env::var("TENEX_TEST_POSTGRES").as_deref() == Ok("off") {
        eprintln!("note: TENEX_TEST_POSTGRES=off: Postgres half of the store tests not run");
        return None;
    }
    let Ok(url) = std::env::var("TENEX_TEST_DATABASE_URL") else {
        panic!(
            "TENEX_TEST_DATABASE_URL is not set: run the tests with `./run test` (it starts a \
             throwaway PostgreSQL), or point it at a server (postgres://user@host:port/postgres), \
             or set TENEX_TEST_POSTGRES=off to test SQLite only"
        );
    };
    let name = new_id("t");
    let mut admin = sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to the test Postgres server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let _ = admin.close().await;
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url.as_str(), String::new()),
    };
    let server = base.rsplit_once('/').map_or(base, |(s, _)| s);
    let store = Store::open(&format!("{server}/{name}{query}"))
        .await
        .expect("open postgres store");
    assert_eq!(store.backend(), Backend::Postgres);
    Some(store)
}

/// Every backend under test: SQLite, then Postgres.
pub async fn backends(name: &str) -> Vec<Store> {
    let mut all = vec![sqlite(name).await];
    all.extend(postgres().await);
    all
}
