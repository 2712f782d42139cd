//! Readiness: whether each dependency a process needs answers. Served as `/readyz` by the
//! ingress and the workers and printed by `bridgectl health`; generic over the checks so
//! this crate knows neither the database nor the broker.

use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// One named dependency check.
pub type Probe<'a> = (
    &'static str,
    Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>,
);

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub checks: BTreeMap<&'static str, Check>,
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Check {
    Ok,
    Failed { error: String },
}

/// Runs every probe at once, each bounded by `timeout`.
pub async fn check(timeout: Duration, probes: Vec<Probe<'_>>) -> Readiness {
    let runs = probes.into_iter().map(|(name, probe)| async move {
        let outcome = match tokio::time::timeout(timeout, probe).await {
            Ok(Ok(())) => Check::Ok,
            Ok(Err(error)) => Check::Failed { error },
            Err(_) => Check::Failed {
                error: format!("no answer within {timeout:?}"),
            },
        };
        (name, outcome)
    });
    let checks: BTreeMap<_, _> = futures::future::join_all(runs).await.into_iter().collect();
    let ready = checks.values().all(|c| *c == Check::Ok);
    Readiness { ready, checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_or_silent_dependency_makes_the_process_unready() {
        let r = check(
            Duration::from_millis(50),
            vec![
                ("database", Box::pin(async { Ok(()) })),
                ("broker", Box::pin(async { Err("refused".to_owned()) })),
                (
                    "slow",
                    Box::pin(async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        Ok(())
                    }),
                ),
            ],
        )
        .await;
        assert!(!r.ready);
        assert_eq!(r.checks["database"], Check::Ok);
        assert!(
            matches!(&r.checks["slow"], Check::Failed { error } if error.contains("no answer"))
        );
    }
}
