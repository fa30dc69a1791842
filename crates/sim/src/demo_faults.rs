//! What goes wrong in `courier demo`, and when: a fixed script, repeated every
//! [`CYCLE_SECS`] seconds, so a newcomer can watch retries, destination health, a dead letter
//! and semantic event types without a real EHR, and a test knows what to wait for.
//!
//! The script ([`FaultPlan::steps_at`]) is a pure function of the second since the start;
//! [`FaultRun`] carries its steps out on the simulated EHR and receiver. Per cycle:
//! - second 0 (first cycle only): the receiver starts refusing every notification of the
//!   poison record with 422, which Courier retries on its schedule and then dead-letters;
//! - second 1: the EHR changes the poison record;
//! - seconds 3 and 6: the EHR cancels an appointment, then reschedules it;
//! - seconds 18 to 22: the receiver answers 503 to everything (the destination turns failing,
//!   is probed, and recovers);
//! - seconds 28 to 36: the receiver takes 1.5 s per answer (the backlog grows, then drains).

use std::fmt;
use std::time::Duration;

use actix_rt::task::JoinHandle;
use chrono::Duration as TimeDelta;

use super::ehr::EhrControl;
use super::inbox::ReceiverControl;

/// Length of one cycle of the script.
pub const CYCLE_SECS: u64 = 40;
/// The record the receiver always refuses.
pub const POISON_KEY: &str = "appt-1";
/// What the receiver answers the poison record: a lasting 4xx, so Courier dead-letters it
/// once its retry schedule ran out (a 5xx would make the destination look down instead).
pub const POISON_STATUS: u16 = 422;
/// What the receiver answers during its outage.
pub const OUTAGE_STATUS: u16 = 503;
/// How long the slow receiver takes per answer: well under the demo's 5 s timeout, so
/// answers are late, not lost.
pub const SLOW_ANSWER: Duration = Duration::from_millis(1500);

/// Seconds into a cycle of each step.
const POISON_TOUCH: u64 = 1;
const CANCEL: u64 = 3;
const RESCHEDULE: u64 = 6;
const OUTAGE_START: u64 = 18;
const OUTAGE_END: u64 = 22;
const SLOW_START: u64 = 28;
const SLOW_END: u64 = 36;

/// One thing the script does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The receiver refuses every notification of this record with [`POISON_STATUS`].
    RefuseKey(String),
    /// The EHR changes this record.
    Touch(String),
    /// The EHR cancels this appointment.
    Cancel(String),
    /// The EHR moves this appointment a day later and books it again.
    Reschedule(String),
    /// The receiver answers [`OUTAGE_STATUS`] to everything (`true`) or recovers (`false`).
    ReceiverDown(bool),
    /// The receiver takes [`SLOW_ANSWER`] per answer (`true`) or answers at once (`false`).
    ReceiverSlow(bool),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::RefuseKey(key) => write!(
                f,
                "the receiver refuses every notification of {key} with {POISON_STATUS} (a \
                 poison record: retried, then a dead letter; see `courier dlq list`)"
            ),
            Step::Touch(key) => write!(f, "the EHR changes {key}, the poison record"),
            Step::Cancel(key) => write!(f, "the EHR cancels {key}"),
            Step::Reschedule(key) => write!(f, "the EHR reschedules {key}"),
            Step::ReceiverDown(true) => write!(
                f,
                "the receiver answers {OUTAGE_STATUS} to everything for {} s (the destination \
                 turns failing and is probed; see `courier status`)",
                OUTAGE_END - OUTAGE_START
            ),
            Step::ReceiverDown(false) => write!(f, "the receiver is back"),
            Step::ReceiverSlow(true) => write!(
                f,
                "the receiver takes {:.1} s per answer for {} s (the backlog grows)",
                SLOW_ANSWER.as_secs_f64(),
                SLOW_END - SLOW_START
            ),
            Step::ReceiverSlow(false) => write!(f, "the receiver answers at once again"),
        }
    }
}

/// The script for a chart of appointments `appt-1`…`appt-N`.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Appointments the EHR has; the cancelled one is never the poison record.
    appointments: usize,
    /// Whether the EHR's steps (touch, cancel, reschedule) are in the script: only a source
    /// that reads the changes log sees them.
    ehr_steps: bool,
}

impl FaultPlan {
    /// The script for `appointments` appointments; `None` below 2 (the poison record and one
    /// to cancel).
    pub fn new(appointments: usize) -> Option<Self> {
        (appointments >= 2).then_some(Self {
            appointments,
            ehr_steps: true,
        })
    }

    /// The script without the EHR's steps, for a source that does not read the changes log
    /// (a listed schedule), where they would show nothing.
    pub fn receiver_only(self) -> Self {
        Self {
            ehr_steps: false,
            ..self
        }
    }

    /// What happens at second `tick` of the run (0 at the start).
    pub fn steps_at(&self, tick: u64) -> Vec<Step> {
        let cycle = tick / CYCLE_SECS;
        // appt-2 … appt-N in turn, one per cycle.
        let others = self.appointments as u64 - 1;
        let cancelled = format!("appt-{}", 2 + cycle % others);
        let mut steps = Vec::new();
        if tick == 0 {
            steps.push(Step::RefuseKey(POISON_KEY.to_owned()));
        }
        match tick % CYCLE_SECS {
            POISON_TOUCH if self.ehr_steps => steps.push(Step::Touch(POISON_KEY.to_owned())),
            CANCEL if self.ehr_steps => steps.push(Step::Cancel(cancelled)),
            RESCHEDULE if self.ehr_steps => steps.push(Step::Reschedule(cancelled)),
            OUTAGE_START => steps.push(Step::ReceiverDown(true)),
            OUTAGE_END => steps.push(Step::ReceiverDown(false)),
            SLOW_START => steps.push(Step::ReceiverSlow(true)),
            SLOW_END => steps.push(Step::ReceiverSlow(false)),
            _ => {}
        }
        steps
    }
}

impl EhrControl {
    /// Cancels an appointment now; its change entry says `cancelled`. Returns the `seq`.
    ///
    /// # Panics
    /// If the appointment does not exist: that is a mistake in the caller.
    pub fn cancel(&self, appointment_id: &str) -> u64 {
        self.with_records(|records| records.cancel(appointment_id))
            .unwrap_or_else(|| panic!("sim EHR has no appointment {appointment_id}"))
    }

    /// Moves an appointment `by` and books it again; its change entry says `rescheduled`.
    /// Returns the `seq`.
    ///
    /// # Panics
    /// If the appointment does not exist.
    pub fn reschedule(&self, appointment_id: &str, by: TimeDelta) -> u64 {
        self.with_records(|records| records.reschedule(appointment_id, by))
            .unwrap_or_else(|| panic!("sim EHR has no appointment {appointment_id}"))
    }
}

/// The script running on an EHR and a receiver; [`FaultRun::stop`] ends it.
#[derive(Debug)]
pub struct FaultRun {
    task: JoinHandle<()>,
}

impl FaultRun {
    /// Carries out `plan` on `ehr` and `receiver`, one script second every `tick` (1 s in the
    /// demo; shorter in tests), on the current actix System. With `announce`, each step is
    /// printed as it happens, `courier demo: ` first.
    pub fn start(
        plan: FaultPlan,
        ehr: EhrControl,
        receiver: ReceiverControl,
        tick: Duration,
        announce: bool,
    ) -> Self {
        let task = actix_rt::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for second in 0.. {
                interval.tick().await;
                for step in plan.steps_at(second) {
                    if announce {
                        println!("courier demo: {step}");
                    }
                    apply(&step, &ehr, &receiver);
                }
            }
        });
        Self { task }
    }

    /// Ends the script where it is; a fault in force stays (the demo stops its receiver next).
    pub fn stop(self) {
        self.task.abort();
    }
}

fn apply(step: &Step, ehr: &EhrControl, receiver: &ReceiverControl) {
    match step {
        Step::RefuseKey(key) => receiver.refuse_key(key, POISON_STATUS),
        Step::Touch(key) => {
            ehr.touch(key);
        }
        Step::Cancel(key) => {
            ehr.cancel(key);
        }
        Step::Reschedule(key) => {
            ehr.reschedule(key, TimeDelta::days(1));
        }
        Step::ReceiverDown(true) => receiver.always(OUTAGE_STATUS),
        Step::ReceiverDown(false) => receiver.always(200),
        Step::ReceiverSlow(true) => receiver.set_latency(SLOW_ANSWER),
        Step::ReceiverSlow(false) => receiver.set_latency(Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReceiverOptions, SimEhr, SimEhrOptions, SimReceiver};
    use courier_wire::SigningKey;

    /// Every step of the first `seconds` seconds, with its second.
    fn script(plan: FaultPlan, seconds: u64) -> Vec<(u64, Step)> {
        (0..seconds)
            .flat_map(|tick| plan.steps_at(tick).into_iter().map(move |s| (tick, s)))
            .collect()
    }

    #[test]
    fn the_first_cycle_poisons_cancels_reschedules_then_fails_and_slows_the_receiver() {
        let plan = FaultPlan::new(200).unwrap();
        let appt = |n: u32| format!("appt-{n}");
        assert_eq!(
            script(plan, CYCLE_SECS),
            [
                (0, Step::RefuseKey(appt(1))),
                (1, Step::Touch(appt(1))),
                (3, Step::Cancel(appt(2))),
                (6, Step::Reschedule(appt(2))),
                (18, Step::ReceiverDown(true)),
                (22, Step::ReceiverDown(false)),
                (28, Step::ReceiverSlow(true)),
                (36, Step::ReceiverSlow(false)),
            ]
        );
    }

    #[test]
    fn later_cycles_repeat_on_the_next_appointment_never_the_poison_record() {
        let plan = FaultPlan::new(3).unwrap();
        let cancelled: Vec<String> = script(plan, 4 * CYCLE_SECS)
            .into_iter()
            .filter_map(|(_, step)| match step {
                Step::Cancel(key) => Some(key),
                _ => None,
            })
            .collect();
        assert_eq!(cancelled, ["appt-2", "appt-3", "appt-2", "appt-3"]);
        assert_eq!(plan.steps_at(CYCLE_SECS), [], "the refusal is set once");
        assert!(FaultPlan::new(1).is_none());
    }

    #[test]
    fn a_receiver_only_script_leaves_the_ehr_alone() {
        let plan = FaultPlan::new(200).unwrap().receiver_only();
        let steps = script(plan, CYCLE_SECS);
        assert_eq!(steps.len(), 5, "{steps:?}");
        assert!(steps.iter().all(|(_, step)| matches!(
            step,
            Step::RefuseKey(_) | Step::ReceiverDown(_) | Step::ReceiverSlow(_)
        )));
    }

    #[test]
    fn steps_say_what_they_do_and_where_to_look() {
        let poison = Step::RefuseKey(POISON_KEY.to_owned()).to_string();
        assert!(poison.contains("appt-1") && poison.contains("courier dlq list"));
        let down = Step::ReceiverDown(true).to_string();
        assert!(down.contains("503") && down.contains("4 s"), "{down}");
    }

    #[actix_rt::test]
    async fn a_run_changes_the_ehr_and_the_receiver_as_scripted() {
        let ehr = SimEhr::start(SimEhrOptions::default()).unwrap();
        let secret = SigningKey::generate_secret();
        let receiver = SimReceiver::start(ReceiverOptions::new(secret)).unwrap();
        let plan = FaultPlan::new(ehr.appointment_count()).unwrap();
        let tick = Duration::from_millis(5);
        let run = FaultRun::start(plan, ehr.control(), receiver.control(), tick, false);
        let answer = |key: &str| {
            let body = serde_json::json!({"data": {"key": key}});
            receiver.next_answer(true, &body).status
        };
        let within = Duration::from_secs(10);
        crate::eventually("the outage", within, || answer("appt-5") == OUTAGE_STATUS).await;
        assert_eq!(answer(POISON_KEY), POISON_STATUS, "the refusal comes first");
        crate::eventually("the slow receiver", within, || {
            receiver.latency() == SLOW_ANSWER && answer("appt-5") == 200
        })
        .await;
        crate::eventually("the end of the cycle", within, || {
            receiver.latency().is_zero()
        })
        .await;
        run.stop();
        let actions: Vec<String> = ehr
            .with_records(|records| records.changed(None, 10))
            .iter()
            .map(|item| {
                format!(
                    "{} {}",
                    item["id"].as_str().unwrap(),
                    item["action"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            actions,
            ["appt-1 updated", "appt-2 cancelled", "appt-2 rescheduled"]
        );
        assert_eq!(answer(POISON_KEY), POISON_STATUS, "for good");
        ehr.stop().await;
        receiver.stop().await;
    }
}
