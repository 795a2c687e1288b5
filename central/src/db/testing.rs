//! For tests and benchmarks: a fresh, empty PostgreSQL database per test on the server the
//! test script provides, so tests run in parallel without seeing each other. Dropped when the handle
//! goes (best effort; names carry the process id, so leftovers are recognisable).

use std::sync::atomic::{AtomicU32, Ordering};

/// Where the test PostgreSQL server is: `TOTE_TEST_POSTGRES` (a `postgresql://` URL to a
/// database we may create others from), else the local server the test script sets up.
pub fn server_url() -> String {
    std::env::var("TOTE_TEST_POSTGRES").unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists until this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl TestDatabase {
    /// Creates `tote_test_<pid>_<n>`. Panics with the way out when no server answers.
    pub fn create() -> TestDatabase {
        Self::create_on(&server_url())
    }

    /// The same on the server at `admin_url` (one a test started for itself, say).
    pub fn create_on(admin_url: &str) -> TestDatabase {
        let admin_url = admin_url.to_owned();
        // The sync client runs its own runtime: keep it off any async test's threads.
        std::thread::spawn(move || Self::create_here(admin_url)).join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    fn create_here(admin_url: String) -> TestDatabase {
        let name = format!("tote_test_{}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed), rand_suffix());
        let mut client = postgres::Client::connect(&admin_url, postgres::NoTls).unwrap_or_else(|e| {
            panic!("no PostgreSQL for the tests at {admin_url} ({e}); run `bash tests/run.sh`, which sets one up, or set TOTE_TEST_POSTGRES")
        });
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("TOTE_TEST_POSTGRES must end in /database"),
        };
        TestDatabase { name, url, admin_url }
    }
}

fn rand_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    (h.finish() % 1_000_000) as u32
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(mut client) = postgres::Client::connect(&admin_url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
            }
        })
        .join();
    }
}
