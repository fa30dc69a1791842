//! The simulated EHR's data: synthetic patients and appointments, and the changes log that its
//! feed serves. Pure data with no I/O, so the feed's paging rules are tested without a server.
//!
//! Every name and birth date is generated from fixed word lists and is obviously fake, so the
//! demo and the tests never handle anything that looks like real patient data.

use chrono::{DateTime, Duration as TimeDelta, NaiveDate, SecondsFormat, SubsecRound, Utc};
use serde_json::{json, Value};

/// Family names that no one mistakes for a real person's.
const FAMILY_NAMES: [&str; 6] = [
    "Testperson",
    "Example",
    "Sample",
    "Fixture",
    "Placeholder",
    "Synthetic",
];

/// Given names, the NATO alphabet: clearly not a real register of patients.
const GIVEN_NAMES: [&str; 8] = [
    "Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf", "Hotel",
];

/// FHIR appointment statuses: a touch cycles through the first three, so each change is
/// visible in the record; only a cancellation gives the last.
const STATUSES: [&str; 4] = ["booked", "arrived", "fulfilled", "cancelled"];
/// The index of `cancelled` in [`STATUSES`].
const CANCELLED: usize = 3;

/// What a change log entry says happened, its `action`: what a feed that knows (many do)
/// tells a reader, so a connection can name its event types after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The appointment was created.
    Created,
    /// Something of it changed (its status moved on, or a cancelled one was edited).
    Updated,
    /// It was cancelled.
    Cancelled,
    /// It was moved to another time, and booked again if it was cancelled.
    Rescheduled,
}

impl Action {
    /// The action as the feed writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Cancelled => "cancelled",
            Action::Rescheduled => "rescheduled",
        }
    }
}

/// One synthetic patient.
#[derive(Debug, Clone)]
struct Patient {
    family: &'static str,
    given: &'static str,
    birth_date: NaiveDate,
}

/// One synthetic appointment; `version` counts its changes, starting at 1 when created.
#[derive(Debug, Clone)]
struct Appointment {
    patient: usize,
    status: usize,
    start: DateTime<Utc>,
    version: u64,
}

/// One entry of the changes log; `seq` is its 1-based position in the log.
#[derive(Debug, Clone)]
struct Change {
    seq: u64,
    appointment: usize,
    ts: DateTime<Utc>,
    action: Action,
}

/// Where a feed request starts reading, as its `since` parameter said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// Items whose `seq` is greater than this.
    Seq(i64),
    /// Items whose `ts` is at or after this instant (inclusive, so ties are re-read).
    Time(DateTime<Utc>),
}

impl Since {
    /// Reads a `since` value: an integer is a sequence number, else an RFC 3339 time.
    pub fn parse(value: &str) -> Option<Self> {
        if let Ok(seq) = value.parse() {
            return Some(Self::Seq(seq));
        }
        DateTime::parse_from_rfc3339(value)
            .ok()
            .map(|at| Self::Time(at.with_timezone(&Utc)))
    }
}

/// The whole simulated chart: patients, appointments and the changes log.
#[derive(Debug)]
pub struct Records {
    patients: Vec<Patient>,
    appointments: Vec<Appointment>,
    changes: Vec<Change>,
    /// Seeded, so two runs with the same options produce the same data.
    rng: fastrand::Rng,
    /// Written into every patient's names and identifier, so a test can search logs for it.
    phi_marker: Option<String>,
}

impl Records {
    /// Generates `patients` patients and `appointments` appointments; the changes log starts
    /// empty (existing appointments predate it). `patients` must be at least 1 when
    /// `appointments` is not zero, since every appointment has a patient.
    pub fn generate(patients: usize, appointments: usize, seed: u64) -> Self {
        let mut records = Self {
            patients: Vec::with_capacity(patients),
            appointments: Vec::with_capacity(appointments),
            changes: Vec::new(),
            rng: fastrand::Rng::with_seed(seed),
            phi_marker: None,
        };
        let epoch = NaiveDate::from_ymd_opt(1950, 1, 1).expect("a valid date");
        for _ in 0..patients {
            let days = records.rng.i64(0..365 * 60);
            records.patients.push(Patient {
                family: FAMILY_NAMES[records.rng.usize(..FAMILY_NAMES.len())],
                given: GIVEN_NAMES[records.rng.usize(..GIVEN_NAMES.len())],
                birth_date: epoch + TimeDelta::days(days),
            });
        }
        for _ in 0..appointments {
            records.create_appointment();
        }
        records
    }

    /// Number of entries in the changes log, which is also the last `seq`.
    pub fn change_count(&self) -> u64 {
        self.changes.len() as u64
    }

    /// Number of appointments.
    pub fn appointment_count(&self) -> usize {
        self.appointments.len()
    }

    /// Changes an appointment (new status, version + 1) and logs it at `ts`, or now when
    /// `ts` is `None`. Returns the new entry's `seq`, or `None` for an unknown id.
    ///
    /// Automatic timestamps never go backwards (a clock step back repeats the last one), so a
    /// reader that resumes from the last `ts` it saw misses nothing.
    pub fn touch(&mut self, appointment_id: &str, ts: Option<DateTime<Utc>>) -> Option<u64> {
        self.change(appointment_id, ts, Action::Updated, |appointment| {
            if appointment.status != CANCELLED {
                appointment.status = (appointment.status + 1) % CANCELLED;
            }
        })
    }

    /// Cancels an appointment now (status `cancelled`, version + 1), logged with the action
    /// `cancelled`. Returns the entry's `seq`, or `None` for an unknown id.
    pub fn cancel(&mut self, appointment_id: &str) -> Option<u64> {
        self.change(appointment_id, None, Action::Cancelled, |appointment| {
            appointment.status = CANCELLED;
        })
    }

    /// Moves an appointment `by` later (earlier when negative) and books it again, logged
    /// with the action `rescheduled`. Returns the entry's `seq`, or `None` for an unknown id.
    pub fn reschedule(&mut self, appointment_id: &str, by: TimeDelta) -> Option<u64> {
        self.change(appointment_id, None, Action::Rescheduled, |appointment| {
            appointment.start += by;
            appointment.status = 0;
        })
    }

    /// Applies `edit` to an appointment, bumps its version and logs `action` at `ts` (or now).
    fn change(
        &mut self,
        appointment_id: &str,
        ts: Option<DateTime<Utc>>,
        action: Action,
        edit: impl FnOnce(&mut Appointment),
    ) -> Option<u64> {
        let index = parse_index(appointment_id, "appt-", self.appointments.len())?;
        let appointment = &mut self.appointments[index];
        edit(appointment);
        appointment.version += 1;
        Some(self.log(index, ts, action))
    }

    /// Touches a random appointment at `ts` (or now), creating one first if there are none.
    pub fn touch_random(&mut self, ts: Option<DateTime<Utc>>) -> u64 {
        if self.appointments.is_empty() {
            self.add_appointment();
        }
        let index = self.rng.usize(..self.appointments.len());
        self.touch(&format!("appt-{}", index + 1), ts)
            .expect("the index is in range")
    }

    /// Logs `changes` random touches spread one second apart and ending at `now`, as if they
    /// happened before the reader started: a backlog to page through, without the endless
    /// timestamp ties that logging them all in the same millisecond would create.
    pub fn backlog(&mut self, changes: usize, now: DateTime<Utc>) {
        for before in (0..changes).rev() {
            self.touch_random(Some(now - TimeDelta::seconds(before as i64)));
        }
    }

    /// Creates an appointment for a random patient and logs its creation as a change.
    pub fn add_appointment(&mut self) -> String {
        let index = self.create_appointment();
        self.log(index, None, Action::Created);
        format!("appt-{}", index + 1)
    }

    /// The current version of an appointment.
    pub fn version(&self, appointment_id: &str) -> Option<u64> {
        let index = parse_index(appointment_id, "appt-", self.appointments.len())?;
        Some(self.appointments[index].version)
    }

    /// One feed page: entries after `since` in ascending `seq`, at most `limit` of them.
    pub fn changed(&self, since: Option<Since>, limit: usize) -> Vec<Value> {
        // Entry `seq` is at index `seq - 1`, so a sequence `since` skips straight to its place:
        // paging through a log of hundreds of thousands of entries stays cheap.
        let skip = match since {
            Some(Since::Seq(after)) => usize::try_from(after.max(0))
                .unwrap_or(usize::MAX)
                .min(self.changes.len()),
            _ => 0,
        };
        self.changes[skip..]
            .iter()
            .filter(|change| match since {
                None => true,
                Some(Since::Seq(after)) => i128::from(change.seq) > i128::from(after),
                Some(Since::Time(from)) => change.ts >= from,
            })
            .take(limit)
            .map(|change| self.change_json(change))
            .collect()
    }

    /// An appointment as a minimal FHIR resource.
    pub fn appointment(&self, id: &str) -> Option<Value> {
        let appointment = &self.appointments[parse_index(id, "appt-", self.appointments.len())?];
        Some(json!({
            "resourceType": "Appointment",
            "id": id,
            "status": STATUSES[appointment.status],
            "start": appointment.start.to_rfc3339_opts(SecondsFormat::Secs, true),
            "patient": {"id": format!("pat-{}", appointment.patient + 1)},
            "meta": {"versionId": appointment.version.to_string()},
        }))
    }

    /// Writes `marker` into every patient's family and given name and into an MRN
    /// identifier, so that a test can prove no log line carries patient details.
    pub fn mark_phi(&mut self, marker: &str) {
        self.phi_marker = Some(marker.to_owned());
    }

    /// A patient as a minimal FHIR resource.
    pub fn patient(&self, id: &str) -> Option<Value> {
        let patient = &self.patients[parse_index(id, "pat-", self.patients.len())?];
        let mut resource = json!({
            "resourceType": "Patient",
            "id": id,
            "name": [{"family": patient.family, "given": [patient.given]}],
            "birthDate": patient.birth_date.to_string(),
        });
        if let Some(marker) = &self.phi_marker {
            resource["name"] = json!([{
                "family": format!("{}{marker}", patient.family),
                "given": [format!("{marker}{}", patient.given)],
            }]);
            resource["identifier"] =
                json!([{"system": "urn:mrn", "value": format!("MRN-{marker}-{id}")}]);
        }
        Some(resource)
    }

    fn create_appointment(&mut self) -> usize {
        assert!(
            !self.patients.is_empty(),
            "an appointment needs a patient; start the sim with patients >= 1"
        );
        let day_start = "2030-01-07T08:00:00Z"
            .parse::<DateTime<Utc>>()
            .expect("a valid time");
        let index = self.appointments.len();
        self.appointments.push(Appointment {
            patient: self.rng.usize(..self.patients.len()),
            status: 0,
            start: day_start + TimeDelta::minutes(30 * index as i64),
            version: 1,
        });
        index
    }

    fn log(&mut self, appointment: usize, ts: Option<DateTime<Utc>>, action: Action) -> u64 {
        let ts = ts.unwrap_or_else(|| {
            let now = Utc::now();
            self.changes.last().map_or(now, |last| now.max(last.ts))
        });
        let seq = self.change_count() + 1;
        self.changes.push(Change {
            seq,
            appointment,
            // The feed prints milliseconds, so keep no more: a `since` copied from an item
            // must select that item again.
            ts: ts.trunc_subsecs(3),
            action,
        });
        seq
    }

    fn change_json(&self, change: &Change) -> Value {
        let appointment = &self.appointments[change.appointment];
        json!({
            "seq": change.seq,
            "id": format!("appt-{}", change.appointment + 1),
            "patientId": format!("pat-{}", appointment.patient + 1),
            "ts": change.ts.to_rfc3339_opts(SecondsFormat::Millis, true),
            "action": change.action.as_str(),
        })
    }
}

/// Whether `given` and `family` are a name this chart makes up: what the demo checks before it
/// prints a patient's name, so it can only ever show a synthetic one.
pub fn is_synthetic_name(given: &str, family: &str) -> bool {
    GIVEN_NAMES.contains(&given) && FAMILY_NAMES.contains(&family)
}

/// `appt-3` → index 2, if in range; ids are 1-based so they read naturally in logs and tests.
fn parse_index(id: &str, prefix: &str, len: usize) -> Option<usize> {
    let number: usize = id.strip_prefix(prefix)?.parse().ok()?;
    (1..=len).contains(&number).then(|| number - 1)
}

#[cfg(test)]
mod tests;
