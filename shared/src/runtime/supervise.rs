//! Supervised tasks: a daemon's long-running loops, each under a name and a policy, so that a
//! loop that returns or panics is noticed — restarted after a backoff, or taken as the daemon's
//! own failure — instead of vanishing while `/health` keeps answering.
//!
//! A task is a factory `FnMut(Stop) -> Future`: every run gets a [`Stop`] to watch, so it can
//! finish at a clean point when the daemon stops, and a restart is just another call of the
//! factory. [`Supervisor::shutdown`] signals stop, waits for the tasks up to a deadline and
//! aborts the ones still running.
//!
//! What it is not: a process supervisor. A fatal task only makes [`Supervisor::failed`]
//! resolve; the daemon returns an error from `main` and systemd restarts the process. Nor is it
//! a job queue: the tasks are the few dozen loops a daemon runs for its whole life.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use super::backoff::Backoff;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::{AbortHandle, JoinError, JoinHandle};
use tokio::time::Instant;

/// What the supervisor does when a task ends while the daemon is not stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Run the factory again after a jittered exponential backoff between `initial_backoff`
    /// and `max_backoff`. A run that lasted at least `max_backoff` counts as healthy: the next
    /// restart waits `initial_backoff` again.
    Restart { initial_backoff: Duration, max_backoff: Duration },
    /// The task's end is the daemon's failure: [`Supervisor::failed`] resolves with its name.
    Fatal,
}

/// How a run of a task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    Returned,
    /// With the panic's message.
    Panicked(String),
    /// Aborted from outside the supervisor (the runtime shutting down).
    Cancelled,
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Returned => f.write_str("returned"),
            Exit::Panicked(message) => write!(f, "panicked: {message}"),
            Exit::Cancelled => f.write_str("was cancelled"),
        }
    }
}

/// A task with the [`Policy::Fatal`] policy ended while the daemon was running.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("task {task} {exit}; it is fatal for the daemon")]
pub struct TaskFailed {
    pub task: String,
    pub exit: Exit,
}

/// The stop signal a task watches. Cloneable; resolves for good once the supervisor shuts
/// down (or is dropped).
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A stop that never comes: for code driven step by step outside a supervisor (the
    /// suite's simulations).
    pub fn never() -> Stop {
        static NEVER: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
        Stop(NEVER.get_or_init(|| watch::channel(false).0).subscribe())
    }

    pub fn is_stopped(&self) -> bool {
        // A dropped sender means the supervisor is gone: nobody would ever wait for us.
        *self.0.borrow() || self.0.has_changed().is_err()
    }

    /// Resolves once stop is signalled.
    pub async fn stopped(&self) {
        let mut receiver = self.0.clone();
        // An error means the supervisor was dropped, which is a stop too.
        let _ = receiver.wait_for(|stopped| *stopped).await;
    }

    /// Runs `future` unless stop comes first: `None` means stopped, and `future` was dropped
    /// at whatever await it had reached. For waits and sleeps, which can be dropped anywhere.
    pub async fn run_until_stopped<F: Future>(&self, future: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            () = self.stopped() => None,
            output = future => Some(output),
        }
    }
}

/// Restart counts per task name, readable while the tasks run (for `/metrics`).
#[derive(Debug, Clone, Default)]
pub struct RestartCounts(Arc<Mutex<BTreeMap<String, u64>>>);

impl RestartCounts {
    /// Every supervised task by name, with how often it was restarted.
    pub fn all(&self) -> Vec<(String, u64)> {
        lock(&self.0).iter().map(|(name, n)| (name.clone(), *n)).collect()
    }

    pub fn get(&self, task: &str) -> Option<u64> {
        lock(&self.0).get(task).copied()
    }
}

/// Runs named tasks under their policies. See the module documentation.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    failed: Arc<watch::Sender<Option<TaskFailed>>>,
    restarts: RestartCounts,
    tasks: Mutex<Vec<Supervised>>,
    fault: Option<Fault>,
}

struct Supervised {
    name: String,
    monitor: JoinHandle<()>,
    /// The current run, so `shutdown` can abort it.
    run: Arc<Mutex<Option<AbortHandle>>>,
}

/// A fault injected into one task's first run. Only tests set one (see `with_fault`).
#[derive(Debug, Clone)]
struct Fault {
    task: String,
    kind: FaultKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultKind {
    Panic,
    Return,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        Supervisor {
            stop: watch::Sender::new(false),
            failed: Arc::new(watch::Sender::new(None)),
            restarts: RestartCounts::default(),
            tasks: Mutex::new(Vec::new()),
            fault: None,
        }
    }

    /// Fault injection for tests, never for production config: `Some("name")` makes the first
    /// run of the task `name` panic instead of running, `Some("name:return")` makes it return
    /// at once (`name:panic` is the same as `name`). Later runs are the real task. A daemon
    /// reads this from one environment variable at start; `None` costs nothing.
    pub fn with_fault(mut self, spec: Option<&str>) -> Supervisor {
        self.fault = spec.filter(|s| !s.is_empty()).map(|spec| {
            // Task names may contain ':' themselves ("scanner:dock-1"): only a known suffix is a kind.
            match spec.rsplit_once(':') {
                Some((task, "return")) => Fault { task: task.to_owned(), kind: FaultKind::Return },
                Some((task, "panic")) => Fault { task: task.to_owned(), kind: FaultKind::Panic },
                _ => Fault { task: spec.to_owned(), kind: FaultKind::Panic },
            }
        });
        if let Some(fault) = &self.fault {
            tracing::warn!(task = %fault.task, kind = ?fault.kind, "fault injection armed: the task's first run will fail (a test hook)");
        }
        self
    }

    /// Runs `task` under `name` and `policy`: now, and again whenever the policy says so.
    ///
    /// Panics if a task of that name is already supervised (names key the restart counts; a
    /// daemon derives them from its config, which it validated to be unique).
    pub fn spawn<F, Fut>(&self, name: impl Into<String>, policy: Policy, task: F)
    where
        F: FnMut(Stop) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let name = name.into();
        let mut tasks = lock(&self.tasks);
        let fresh = lock(&self.restarts.0).insert(name.clone(), 0).is_none();
        assert!(fresh, "task {name:?} is supervised twice");
        let run = Arc::new(Mutex::new(None));
        let monitor = Monitor {
            name: name.clone(),
            policy,
            stop: Stop(self.stop.subscribe()),
            failed: self.failed.clone(),
            restarts: self.restarts.clone(),
            run: run.clone(),
            fault: self.fault.as_ref().filter(|f| f.task == name).map(|f| f.kind),
        };
        let monitor = tokio::spawn(monitor.watch(task));
        tasks.push(Supervised { name, monitor, run });
    }

    /// Runs a task that can run only once (it owns state that cannot be rebuilt in-process):
    /// its policy is [`Policy::Fatal`].
    pub fn spawn_once<F, Fut>(&self, name: impl Into<String>, task: F)
    where
        F: FnOnce(Stop) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut task = Some(task);
        self.spawn(name, Policy::Fatal, move |stop| {
            // A fatal task's end stops the monitor, so the factory is called exactly once.
            let task = task.take().expect("a fatal task is never restarted");
            task(stop)
        });
    }

    /// Resolves with the first fatal task's failure; never resolves if none fails.
    pub fn failed(&self) -> impl Future<Output = TaskFailed> + Send + 'static {
        let mut receiver = self.failed.subscribe();
        async move {
            loop {
                if let Some(failure) = receiver.borrow_and_update().clone() {
                    return failure;
                }
                if receiver.changed().await.is_err() {
                    // The supervisor is gone, so nothing can fail any more.
                    return std::future::pending().await;
                }
            }
        }
    }

    pub fn restart_counts(&self) -> RestartCounts {
        self.restarts.clone()
    }

    /// A stop signal that resolves when `shutdown` begins, for code outside the supervisor.
    pub fn stop_signal(&self) -> Stop {
        Stop(self.stop.subscribe())
    }

    /// Signals stop, waits up to `deadline` for every task to finish, then aborts the ones
    /// still running. Returns (and logs) their names.
    pub async fn shutdown(self, deadline: Duration) -> Vec<String> {
        self.stop.send_replace(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        let until = Instant::now() + deadline;
        let mut aborted = Vec::new();
        for mut task in tasks {
            if tokio::time::timeout_at(until, &mut task.monitor).await.is_err() {
                if let Some(run) = lock(&task.run).take() {
                    run.abort();
                }
                task.monitor.abort();
                aborted.push(task.name);
            }
        }
        if !aborted.is_empty() {
            tracing::warn!(tasks = ?aborted, "tasks did not stop within {deadline:?}: aborted");
        }
        aborted
    }
}

impl Drop for Supervisor {
    /// A supervisor dropped without `shutdown` (a daemon that failed to build) takes its tasks
    /// with it rather than leaving them running unsupervised.
    fn drop(&mut self) {
        for task in lock(&self.tasks).drain(..) {
            if let Some(run) = lock(&task.run).take() {
                run.abort();
            }
            task.monitor.abort();
        }
    }
}

/// Watches one task: runs it, classifies how each run ended, applies the policy.
struct Monitor {
    name: String,
    policy: Policy,
    stop: Stop,
    failed: Arc<watch::Sender<Option<TaskFailed>>>,
    restarts: RestartCounts,
    run: Arc<Mutex<Option<AbortHandle>>>,
    fault: Option<FaultKind>,
}

impl Monitor {
    async fn watch<F, Fut>(mut self, mut task: F)
    where
        F: FnMut(Stop) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut backoff = match self.policy {
            Policy::Restart { initial_backoff, max_backoff } => Backoff::new(initial_backoff, max_backoff),
            Policy::Fatal => Backoff::new(Duration::ZERO, Duration::ZERO),
        };
        loop {
            let started = Instant::now();
            let Some(run) = self.start(&mut task) else { return };
            let exit = exit_of(run.await);
            if self.stop.is_stopped() {
                match exit {
                    Exit::Panicked(_) => tracing::error!(task = %self.name, "task {} {exit} while stopping", self.name),
                    _ => tracing::debug!(task = %self.name, "task stopped"),
                }
                return;
            }
            match self.policy {
                Policy::Fatal => {
                    tracing::error!(task = %self.name, "task {} {exit}; it is fatal: the daemon stops", self.name);
                    let failure = TaskFailed { task: self.name.clone(), exit };
                    // The first failure is the one the daemon reports.
                    self.failed.send_if_modified(|failed| {
                        let first = failed.is_none();
                        if first {
                            *failed = Some(failure);
                        }
                        first
                    });
                    return;
                }
                Policy::Restart { max_backoff, .. } => {
                    if started.elapsed() >= max_backoff {
                        backoff.reset();
                    }
                    let delay = backoff.next_delay();
                    let restart = self.restarts.get(&self.name).unwrap_or(0) + 1;
                    tracing::error!(task = %self.name, restart, "task {} {exit}; restarting in {delay:?} (restart {restart})", self.name);
                    if self.stop.run_until_stopped(tokio::time::sleep(delay)).await.is_none() {
                        return;
                    }
                    if let Some(count) = lock(&self.restarts.0).get_mut(&self.name) {
                        *count += 1;
                    }
                }
            }
        }
    }

    /// Spawns the next run unless stopping. Holds the run slot while deciding, so `shutdown`
    /// either sees this run's abort handle or this sees the stop.
    fn start<F, Fut>(&mut self, task: &mut F) -> Option<JoinHandle<()>>
    where
        F: FnMut(Stop) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut slot = lock(&self.run);
        if self.stop.is_stopped() {
            return None;
        }
        let name = self.name.clone();
        let run = match self.fault.take() {
            Some(FaultKind::Panic) => tokio::spawn(async move { panic!("fault injected into task {name}") }),
            Some(FaultKind::Return) => tokio::spawn(async move { tracing::warn!(task = %name, "fault injected: the task returns") }),
            // A factory that panics is a run that panicked: hand its panic to the run.
            None => match std::panic::catch_unwind(AssertUnwindSafe(|| task(self.stop.clone()))) {
                Ok(future) => tokio::spawn(future),
                Err(panic) => tokio::spawn(async move { std::panic::resume_unwind(panic) }),
            },
        };
        *slot = Some(run.abort_handle());
        Some(run)
    }
}

fn exit_of(joined: Result<(), JoinError>) -> Exit {
    match joined {
        Ok(()) => Exit::Returned,
        Err(error) if error.is_panic() => Exit::Panicked(panic_message(error.into_panic())),
        Err(_) => Exit::Cancelled,
    }
}

fn panic_message(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(message) => *message,
        Err(panic) => panic.downcast_ref::<&str>().map_or_else(|| "(not a string)".to_owned(), |s| (*s).to_owned()),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Only this module's short critical sections take these locks, and none of them panics.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

    const QUICK: Policy = Policy::Restart { initial_backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(5) };

    /// Waits for `condition` with a deadline, yielding to the runtime in between.
    async fn until(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_restarting_task_that_panics_is_run_again_and_its_restart_is_counted() {
        let supervisor = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        supervisor.spawn("flaky", QUICK, move |stop| {
            let run = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if run == 0 {
                    panic!("the first run dies");
                }
                stop.stopped().await;
            }
        });
        until("a second run", || runs.load(Ordering::SeqCst) >= 2).await;
        assert_eq!(supervisor.restart_counts().get("flaky"), Some(1));
        assert!(supervisor.shutdown(Duration::from_secs(5)).await.is_empty());
        assert_eq!(runs.load(Ordering::SeqCst), 2, "a run that stopped on request is not restarted");
    }

    #[tokio::test]
    async fn a_restarting_task_that_returns_is_run_again() {
        let supervisor = Supervisor::new();
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        supervisor.spawn("returns", QUICK, move |_stop| {
            counted.fetch_add(1, Ordering::SeqCst);
            async {}
        });
        until("three runs", || runs.load(Ordering::SeqCst) >= 3).await;
        assert!(supervisor.restart_counts().get("returns").unwrap_or(0) >= 2);
        supervisor.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_fatal_task_that_returns_makes_failed_resolve_with_its_name() {
        let supervisor = Supervisor::new();
        supervisor.spawn("steady", QUICK, |stop| async move { stop.stopped().await });
        supervisor.spawn("controller", Policy::Fatal, |_stop| async {});
        let failed = tokio::time::timeout(Duration::from_secs(10), supervisor.failed()).await.expect("failed resolves");
        assert_eq!(failed, TaskFailed { task: "controller".into(), exit: Exit::Returned });
        assert!(failed.to_string().contains("controller"));
        assert_eq!(supervisor.restart_counts().get("controller"), Some(0), "a fatal task is not restarted");
        assert!(supervisor.shutdown(Duration::from_secs(5)).await.is_empty());
    }

    #[tokio::test]
    async fn a_fatal_task_that_panics_reports_the_panic_message() {
        let supervisor = Supervisor::new();
        supervisor.spawn_once("once", |_stop| async { panic!("lost the plot") });
        let failed = tokio::time::timeout(Duration::from_secs(10), supervisor.failed()).await.expect("failed resolves");
        assert_eq!(failed.exit, Exit::Panicked("lost the plot".into()));
    }

    #[tokio::test]
    async fn shutdown_waits_for_cooperative_tasks_and_aborts_a_stuck_one_after_the_deadline() {
        let supervisor = Supervisor::new();
        let finished_cleanly = Arc::new(AtomicBool::new(false));
        let flag = finished_cleanly.clone();
        supervisor.spawn("cooperative", QUICK, move |stop| {
            let flag = flag.clone();
            async move {
                stop.stopped().await;
                // Some work at the clean point, which shutdown must wait for.
                tokio::task::yield_now().await;
                flag.store(true, Ordering::SeqCst);
            }
        });
        // Ignores stop; shutdown must abort it, which drops the future (and this guard).
        struct Dropped(Arc<AtomicBool>);
        impl Drop for Dropped {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let stuck_dropped = Arc::new(AtomicBool::new(false));
        let dropped = stuck_dropped.clone();
        let started = Arc::new(AtomicBool::new(false));
        let running = started.clone();
        supervisor.spawn("stuck", QUICK, move |_stop| {
            let guard = Dropped(dropped.clone());
            running.store(true, Ordering::SeqCst);
            async move {
                let _guard = guard;
                std::future::pending::<()>().await;
            }
        });
        until("the stuck task to start", || started.load(Ordering::SeqCst)).await;
        let aborted = supervisor.shutdown(Duration::from_millis(100)).await;
        assert_eq!(aborted, vec!["stuck".to_owned()]);
        assert!(finished_cleanly.load(Ordering::SeqCst), "the cooperative task reached its clean point");
        until("the stuck task to be dropped", || stuck_dropped.load(Ordering::SeqCst)).await;
    }

    #[tokio::test]
    async fn an_injected_panic_fails_only_the_first_run_of_the_named_task() {
        let supervisor = Supervisor::new().with_fault(Some("scanner:dock-1"));
        let runs = Arc::new(AtomicU32::new(0));
        let counted = runs.clone();
        supervisor.spawn("scanner:dock-1", QUICK, move |stop| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { stop.stopped().await }
        });
        until("the real task to run", || runs.load(Ordering::SeqCst) == 1).await;
        assert_eq!(supervisor.restart_counts().get("scanner:dock-1"), Some(1), "the injected panic cost one restart");
        supervisor.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn an_injected_return_takes_a_fatal_task_down_without_running_it() {
        let supervisor = Supervisor::new().with_fault(Some("controller:return"));
        let ran = Arc::new(AtomicBool::new(false));
        let flag = ran.clone();
        supervisor.spawn_once("controller", move |stop| async move {
            flag.store(true, Ordering::SeqCst);
            stop.stopped().await
        });
        let failed = tokio::time::timeout(Duration::from_secs(10), supervisor.failed()).await.expect("failed resolves");
        assert_eq!(failed, TaskFailed { task: "controller".into(), exit: Exit::Returned });
        assert!(!ran.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_never_stop_never_stops_and_lets_its_future_finish() {
        let never = Stop::never();
        assert!(!never.is_stopped());
        assert_eq!(never.run_until_stopped(async { 7 }).await, Some(7));
        drop(never);
        assert!(!Stop::never().is_stopped(), "a later one is not stopped by an earlier one's drop");
    }

    #[tokio::test]
    async fn a_factory_that_panics_counts_as_a_run_that_panicked() {
        let supervisor = Supervisor::new();
        let calls = Arc::new(AtomicU32::new(0));
        let counted = calls.clone();
        supervisor.spawn("factory", QUICK, move |stop| {
            assert!(counted.fetch_add(1, Ordering::SeqCst) > 0, "the first call panics");
            async move { stop.stopped().await }
        });
        until("a second call", || calls.load(Ordering::SeqCst) >= 2).await;
        assert_eq!(supervisor.restart_counts().get("factory"), Some(1));
        supervisor.shutdown(Duration::from_secs(5)).await;
    }

    #[tokio::test]
    async fn a_dropped_supervisor_stops_and_aborts_its_tasks() {
        let supervisor = Supervisor::new();
        let stop = supervisor.stop_signal();
        supervisor.spawn("loop", QUICK, |stop| async move { stop.stopped().await });
        drop(supervisor);
        assert!(stop.is_stopped());
        tokio::time::timeout(Duration::from_secs(10), stop.stopped()).await.expect("stop resolves");
    }

    #[test]
    fn a_fault_spec_names_the_task_and_optionally_how_it_fails() {
        let fault = |spec| Supervisor::new().with_fault(Some(spec)).fault.clone().map(|f| (f.task, f.kind));
        assert_eq!(fault("sync-push"), Some(("sync-push".into(), FaultKind::Panic)));
        assert_eq!(fault("gtp-controller:return"), Some(("gtp-controller".into(), FaultKind::Return)));
        assert_eq!(fault("scanner:dock-1"), Some(("scanner:dock-1".into(), FaultKind::Panic)));
        assert_eq!(fault("scanner:dock-1:panic"), Some(("scanner:dock-1".into(), FaultKind::Panic)));
        assert!(Supervisor::new().with_fault(Some("")).fault.is_none());
    }
}
