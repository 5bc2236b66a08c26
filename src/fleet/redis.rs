use super::{FleetState, HealthStore, Lease, StoreError, StoreFuture, WeightStore};
use crate::health::HealthAggregate;
use crate::rollout::Stage;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{RedisError, Script};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A fleet store on Redis (feature `redis`): every replica of a service
/// opens one on the same server and rollout name.
///
/// Keys, for the rollout named `checkout` (the braces keep them in one
/// slot of a Redis Cluster):
///
/// | key | type | holds |
/// |---|---|---|
/// | `tower-shadow:{checkout}:state` | hash | `revision`, `stage`, `canary_weight` |
/// | `tower-shadow:{checkout}:lease` | string | the controller's replica id, with a `PX` expiry |
/// | `tower-shadow:{checkout}:replicas` | sorted set | ids of replicas that published health |
/// | `tower-shadow:{checkout}:health:<id>` | string | the replica's [`HealthAggregate`] as JSON, with a `PX` expiry |
///
/// The lease is taken with `SET NX PX` and renewed by a script that
/// extends it only for its holder; saves are a script that checks the
/// revision (compare-and-set) and, for a controller's decision, the lease
/// holder, in one step.
///
/// The connection is made on first use and remade after a failure; every
/// call gives up after a timeout (default 1 s), so an unreachable Redis
/// costs a replica one failed poll, never a request.
///
/// ```no_run
/// use tower_shadow::fleet::{RedisStore, Replica};
/// use tower_shadow::{health::Health, rollout::Rollout, router::Weights};
/// # #[tokio::main] async fn main() -> Result<(), tower_shadow::fleet::StoreError> {
/// let store = RedisStore::open("redis://redis.internal:6379/0", "checkout")?;
/// let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
/// let replica = Replica::builder(rollout, store).id("checkout-7f9c").spawn();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    con: ConnectionManager,
    keys: Arc<Keys>,
}

struct Keys {
    name: String,
    state: String,
    lease: String,
    replicas: String,
    health: String,
    save: Script,
    renew: Script,
    release: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("rollout", &self.keys.name)
            .finish_non_exhaustive()
    }
}

/// Saves on top of a seen revision; fenced by the lease when a holder is given.
/// Returns `{1, revision}`, `{0, stored revision}` on a conflict, `{-1, 0}`
/// when the holder does not hold the lease.
const SAVE: &str = r"
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then
  return {-1, 0}
end
local stored = tonumber(redis.call('HGET', KEYS[1], 'revision') or '0')
local seen = tonumber(ARGV[1])
if stored > seen then
  return {0, stored}
end
redis.call('HSET', KEYS[1], 'revision', seen + 1, 'stage', ARGV[3], 'canary_weight', ARGV[4])
return {1, seen + 1}
";

const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
end
return 0
";

fn unavailable(error: RedisError) -> StoreError {
    StoreError::unavailable(error.to_string()).with_source(error)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// A store for the rollout `name` on the Redis at `url`
    /// (`redis://host:port/db`, `rediss://` is not enabled), with calls
    /// timing out after 1 s. Connects on first use.
    ///
    /// # Errors
    ///
    /// When `url` is not a Redis URL, or when called outside a Tokio runtime.
    pub fn open(url: &str, name: &str) -> Result<Self, StoreError> {
        Self::open_with_timeout(url, name, Duration::from_secs(1))
    }

    /// Like [`open`](Self::open), with calls and connection attempts
    /// timing out after `timeout`.
    pub fn open_with_timeout(url: &str, name: &str, timeout: Duration) -> Result<Self, StoreError> {
        let client = ::redis::Client::open(url)
            .map_err(|e| StoreError::invalid(format!("not a Redis URL: {url}")).with_source(e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(StoreError::unavailable(
                "no Tokio runtime: open the store inside one",
            ));
        }
        let con = ConnectionManager::new_lazy_with_config(client, config).map_err(unavailable)?;
        let prefix = format!("tower-shadow:{{{name}}}");
        Ok(Self {
            con,
            keys: Arc::new(Keys {
                name: name.to_owned(),
                state: format!("{prefix}:state"),
                lease: format!("{prefix}:lease"),
                replicas: format!("{prefix}:replicas"),
                health: format!("{prefix}:health:"),
                save: Script::new(SAVE),
                renew: Script::new(RENEW),
                release: Script::new(RELEASE),
            }),
        })
    }

    fn health_key(&self, replica: &str) -> String {
        format!("{}{replica}", self.keys.health)
    }
}

fn parse_state(
    revision: Option<u64>,
    stage: Option<String>,
    weight: Option<String>,
) -> Result<Option<FleetState>, StoreError> {
    let (Some(revision), Some(stage), Some(weight)) = (revision, stage, weight) else {
        return Ok(None);
    };
    let stage: Stage = serde_json::from_value(serde_json::Value::String(stage.clone()))
        .map_err(|_| StoreError::invalid(format!("unknown stage `{stage}`")))?;
    let canary_weight = weight
        .parse::<f64>()
        .ok()
        .filter(|w| (0.0..=1.0).contains(w))
        .ok_or_else(|| StoreError::invalid(format!("canary weight `{weight}` is not in 0..=1")))?;
    Ok(Some(FleetState {
        stage,
        canary_weight,
        revision,
    }))
}

impl WeightStore for RedisStore {
    fn load(&self) -> StoreFuture<'_, Option<FleetState>> {
        Box::pin(async move {
            let mut con = self.con.clone();
            let (revision, stage, weight): (Option<u64>, Option<String>, Option<String>) =
                ::redis::cmd("HMGET")
                    .arg(&self.keys.state)
                    .arg("revision")
                    .arg("stage")
                    .arg("canary_weight")
                    .query_async(&mut con)
                    .await
                    .map_err(unavailable)?;
            parse_state(revision, stage, weight)
        })
    }

    fn save<'a>(&'a self, state: FleetState, holder: Option<&'a str>) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut con = self.con.clone();
            let (code, revision): (i64, u64) = self
                .keys
                .save
                .key(&self.keys.state)
                .key(&self.keys.lease)
                .arg(state.revision)
                .arg(holder.unwrap_or(""))
                .arg(state.stage.as_str())
                .arg(crate::router::clamp_weight(state.canary_weight).to_string())
                .invoke_async(&mut con)
                .await
                .map_err(unavailable)?;
            match code {
                1 => Ok(revision),
                0 => Err(StoreError::conflict(revision, state.revision)),
                _ => Err(StoreError::not_holder()),
            }
        })
    }
}

impl HealthStore for RedisStore {
    fn publish<'a>(
        &'a self,
        replica: &'a str,
        aggregate: &'a HealthAggregate,
        ttl: Duration,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let json = serde_json::to_string(aggregate)
                .map_err(|e| StoreError::invalid("unserializable aggregate").with_source(e))?;
            let mut con = self.con.clone();
            ::redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(self.health_key(replica))
                .arg(json)
                .arg("PX")
                .arg(millis(ttl))
                .ignore()
                .cmd("ZADD")
                .arg(&self.keys.replicas)
                .arg(0)
                .arg(replica)
                .ignore()
                .query_async::<()>(&mut con)
                .await
                .map_err(unavailable)
        })
    }

    fn collect(&self) -> StoreFuture<'_, Vec<(String, HealthAggregate)>> {
        Box::pin(async move {
            let mut con = self.con.clone();
            let ids: Vec<String> = ::redis::cmd("ZRANGE")
                .arg(&self.keys.replicas)
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = ids.iter().map(|id| self.health_key(id)).collect();
            let docs: Vec<Option<String>> = ::redis::cmd("MGET")
                .arg(&keys)
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            let mut live = Vec::with_capacity(ids.len());
            let mut lapsed = Vec::new();
            for (id, doc) in ids.into_iter().zip(docs) {
                match doc.map(|d| serde_json::from_str::<HealthAggregate>(&d)) {
                    Some(Ok(aggregate)) => live.push((id, aggregate)),
                    Some(Err(error)) => {
                        tracing::warn!(replica = %id, %error, "skipping an unreadable health aggregate");
                    }
                    None => lapsed.push(id),
                }
            }
            if !lapsed.is_empty() {
                ::redis::cmd("ZREM")
                    .arg(&self.keys.replicas)
                    .arg(&lapsed)
                    .query_async::<()>(&mut con)
                    .await
                    .map_err(unavailable)?;
            }
            Ok(live)
        })
    }
}

impl Lease for RedisStore {
    fn acquire<'a>(&'a self, holder: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut con = self.con.clone();
            let taken: Option<String> = ::redis::cmd("SET")
                .arg(&self.keys.lease)
                .arg(holder)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async(&mut con)
                .await
                .map_err(unavailable)?;
            if taken.is_some() {
                return Ok(true);
            }
            let renewed: i64 = self
                .keys
                .renew
                .key(&self.keys.lease)
                .arg(holder)
                .arg(millis(ttl))
                .invoke_async(&mut con)
                .await
                .map_err(unavailable)?;
            Ok(renewed == 1)
        })
    }

    fn release<'a>(&'a self, holder: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut con = self.con.clone();
            self.keys
                .release
                .key(&self.keys.lease)
                .arg(holder)
                .invoke_async::<()>(&mut con)
                .await
                .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_states_are_checked() {
        let state = parse_state(Some(3), Some("testing".into()), Some("0.25".into()));
        assert_eq!(
            state.unwrap(),
            Some(FleetState {
                stage: Stage::Testing,
                canary_weight: 0.25,
                revision: 3
            })
        );
        assert_eq!(parse_state(None, None, None).unwrap(), None);
        let err = parse_state(Some(1), Some("soon".into()), Some("0".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unreadable data in the fleet store: unknown stage `soon`"
        );
        let err = parse_state(Some(1), Some("live".into()), Some("NaN".into())).unwrap_err();
        assert!(err.to_string().contains("not in 0..=1"), "{err}");
    }

    #[test]
    fn urls_and_the_runtime_are_checked() {
        let err = RedisStore::open("http://example", "r").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unreadable data in the fleet store: not a Redis URL: http://example"
        );
        let err = RedisStore::open("redis://127.0.0.1:1/0", "r").unwrap_err();
        assert!(err.to_string().contains("no Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_unavailable() {
        // Nothing listens on the port of a dropped listener.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("redis://127.0.0.1:{port}/0");
        let store = RedisStore::open_with_timeout(&url, "r", Duration::from_millis(200)).unwrap();
        assert!(store.load().await.unwrap_err().is_unavailable());
        assert!(store
            .acquire("a", Duration::from_secs(1))
            .await
            .unwrap_err()
            .is_unavailable());
    }
}
