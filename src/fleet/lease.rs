use super::StoreFuture;
use std::time::Duration;

/// Who controls a fleet: one replica at a time holds the lease; it lapses
/// unless renewed in time, and then another replica takes it.
///
/// ```
/// use std::time::Duration;
/// use tower_shadow::fleet::{Lease, MemoryStore};
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let store = MemoryStore::new();
/// let ttl = Duration::from_secs(5);
/// assert!(store.acquire("a", ttl).await.unwrap());
/// assert!(!store.acquire("b", ttl).await.unwrap()); // held by a
/// assert!(store.acquire("a", ttl).await.unwrap()); // renewed
/// store.release("a").await.unwrap();
/// assert!(store.acquire("b", ttl).await.unwrap());
/// # }
/// ```
pub trait Lease: Send + Sync + 'static {
    /// Takes the lease for `holder` for `ttl` when it is free, or renews it
    /// for `ttl` when `holder` already holds it. `true` when `holder`
    /// holds it afterwards.
    fn acquire<'a>(&'a self, holder: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;

    /// Gives the lease up, if `holder` holds it.
    fn release<'a>(&'a self, holder: &'a str) -> StoreFuture<'a, ()>;
}

impl<T: Lease + ?Sized> Lease for std::sync::Arc<T> {
    fn acquire<'a>(&'a self, holder: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        (**self).acquire(holder, ttl)
    }

    fn release<'a>(&'a self, holder: &'a str) -> StoreFuture<'a, ()> {
        (**self).release(holder)
    }
}
