//! Scenarios of timelines, engagement, silent-lead recovery and appointments.

use domain::appointment::{AppointmentState, Slot};
use domain::engagement::{Level, Signal};
use domain::sequence::Origin;
use domain::timeline::LeadEventKind;
use domain::{AppointmentId, EnrolmentId, LeadStatus, SequenceId};

use super::*;

async fn lead_in(store: &S, t: Tenant, name: &str, phone: &str) -> domain::Lead {
    store
        .intake(t, intake_req(t, new_lead(name, Some(phone), None), t0()))
        .await
        .unwrap()
        .lead
}

pub async fn timelines_record_status_changes_and_sealed_notes(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let lead = lead_in(&store, a, "Jane", "4155552671").await;
    assert!(
        store
            .advance_lead_status(
                a,
                lead.id,
                LeadStatus::New,
                LeadStatus::Contacted,
                "system",
                t0()
            )
            .await
            .unwrap()
    );
    // Setting the status it has already is no change, and no entry.
    assert!(
        store
            .set_lead_status(a, lead.id, LeadStatus::Contacted, "user:1", t0() + secs(1))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_lead_status(a, lead.id, LeadStatus::Won, "user:1", t0() + secs(2))
            .await
            .unwrap()
    );
    let mut note = NewLeadEvent::new(
        lead.id,
        LeadEventKind::Note,
        "user:1",
        serde_json::json!({}),
        t0() + secs(3),
    );
    note.note = Some("Prefers calls after 5pm".to_owned());
    store.append_lead_event(a, note.clone()).await.unwrap();
    assert!(matches!(
        store.append_lead_event(b, note.clone()).await,
        Err(DbError::NotFound)
    ));

    let events = store.list_lead_events(a, lead.id, None, 50).await.unwrap();
    let seen: Vec<(LeadEventKind, String)> = events
        .iter()
        .map(|e| {
            (
                e.kind,
                e.data.get("to").map(|v| v.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (LeadEventKind::Note, String::new()),
            (LeadEventKind::Status, "\"won\"".to_owned()),
            (LeadEventKind::Status, "\"contacted\"".to_owned()),
        ],
        "newest first"
    );
    assert_eq!(events[0].note.as_deref(), Some("Prefers calls after 5pm"));
    assert_eq!(events[1].actor, "user:1");
    assert_eq!(events[1].data["from"], "contacted");
    let older = store
        .list_lead_events(a, lead.id, Some(events[0].at), 50)
        .await
        .unwrap();
    assert_eq!(older.len(), 2, "a page before the note");
    assert!(
        store
            .list_lead_events(b, lead.id, None, 50)
            .await
            .unwrap()
            .is_empty()
    );

    store.erase_lead(a, lead.id, t0() + secs(9)).await.unwrap();
    assert!(
        store
            .list_lead_events(a, lead.id, None, 50)
            .await
            .unwrap()
            .is_empty(),
        "an erased lead's notes go with it"
    );
}

pub async fn engagement_accumulates_and_a_reply_restarts_quiet_time(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let lead = lead_in(&store, a, "Jane", "4155552671").await;
    store
        .set_lead_status(a, lead.id, LeadStatus::Contacted, "system", t0())
        .await
        .unwrap();
    assert_eq!(
        store
            .record_signal(b, lead.id, Signal::Reply, t0())
            .await
            .unwrap(),
        None,
        "not the other organisation's lead"
    );
    let after = store
        .record_signal(a, lead.id, Signal::Click, t0() + secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.level_at(t0() + secs(60)), Level::Warm);
    let query = |before| RecoveryQuery {
        status: LeadStatus::Contacted,
        attempts_below: 1,
        quiet_before: before,
        after: None,
        limit: 10,
    };
    let day = 86_400;
    assert_eq!(
        store
            .recovery_candidates(a, &query(t0() + secs(3 * day)))
            .await
            .unwrap()
            .len(),
        1,
        "a click is not a reply: the lead is quiet since its inquiry"
    );
    store
        .record_signal(a, lead.id, Signal::Reply, t0() + secs(4 * day))
        .await
        .unwrap();
    assert!(
        store
            .recovery_candidates(a, &query(t0() + secs(3 * day + 3600)))
            .await
            .unwrap()
            .is_empty(),
        "a reply restarts the quiet time"
    );
    let read = store.get_lead(a, lead.id).await.unwrap().unwrap();
    assert_eq!(read.engagement.level_at(t0() + secs(4 * day)), Level::Hot);
    assert_eq!(read.engagement.at, Some(t0() + secs(4 * day)));
}

pub async fn recovery_starts_each_due_lead_once_and_retires_old_ones(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let day = 86_400;
    let mut leads = Vec::new();
    for (i, phone) in ["4155550101", "4155550102", "4155550103", "4155550104"]
        .iter()
        .enumerate()
    {
        let lead = lead_in(&store, a, &format!("Lead {i}"), phone).await;
        store
            .set_lead_status(a, lead.id, LeadStatus::Contacted, "system", t0())
            .await
            .unwrap();
        leads.push(lead);
    }
    // Another organisation's quiet lead, and a lead of another status.
    let other = lead_in(&store, b, "Other", "4155550105").await;
    store
        .set_lead_status(b, other.id, LeadStatus::Contacted, "system", t0())
        .await
        .unwrap();
    lead_in(&store, a, "New one", "4155550106").await;

    let seq = store
        .create_sequence(
            a,
            NewSequence {
                id: SequenceId::new(),
                name: "Recovery".into(),
                definition: definition("Still looking?"),
                created_at: t0(),
            },
        )
        .await
        .unwrap();
    let query = RecoveryQuery {
        status: LeadStatus::Contacted,
        attempts_below: 2,
        quiet_before: t0() + secs(3 * day),
        after: None,
        limit: 100,
    };
    let found = store.recovery_candidates(a, &query).await.unwrap();
    assert_eq!(found.len(), 4, "the organisation's contacted leads only");
    assert_eq!(found[0].last_touch_at, t0());
    assert_eq!(found[0].attempts, 0);
    let page = store
        .recovery_candidates(
            a,
            &RecoveryQuery {
                after: Some((found[1].quiet_since, found[1].lead_id)),
                ..query.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|c| c.lead_id).collect::<Vec<_>>(),
        found[2..].iter().map(|c| c.lead_id).collect::<Vec<_>>(),
        "pages follow (quiet since, id)"
    );

    let at = t0() + secs(3 * day + 60);
    let run = |lead: LeadId| {
        let id = EnrolmentId::new();
        RecoveryRun {
            enrolment_id: id,
            lead_id: lead,
            due: at + secs(60),
            job: NewJob {
                tenant_id: Some(a.id()),
                dedupe_key: Some(format!("seq:{id}:0")),
                ..plain_job("sequence_step", at + secs(60), 5)
            },
        }
    };
    // Lead 0 is running the sequence already.
    store
        .enrol(
            a,
            NewEnrolment {
                id: EnrolmentId::new(),
                lead_id: leads[0].id,
                sequence_id: seq.id,
                version: 1,
                enrolled_at: t0(),
                next_run_at: t0() + secs(3600),
                origin: Origin::Manual,
            },
            plain_job("sequence_step", t0() + secs(3600), 5),
        )
        .await
        .unwrap();
    let done = store
        .start_recovery(
            a,
            RecoveryBatch {
                sequence_id: seq.id,
                version: 1,
                at,
                runs: vec![run(leads[0].id), run(leads[1].id), run(leads[2].id)],
                retire: vec![leads[3].id],
            },
        )
        .await
        .unwrap();
    assert_eq!(
        done,
        RecoveryDone {
            started: 2,
            running: 1,
            retired: 1
        }
    );
    assert!(
        store
            .recovery_candidates(a, &query)
            .await
            .unwrap()
            .is_empty(),
        "started leads are quiet only since the attempt; the retired one is out"
    );
    let later = RecoveryQuery {
        quiet_before: at + secs(3 * day),
        ..query.clone()
    };
    let again: Vec<LeadId> = store
        .recovery_candidates(a, &later)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.lead_id)
        .collect();
    assert_eq!(
        again.len(),
        3,
        "two recovered once, one that was running: {again:?}"
    );
    assert!(!again.contains(&leads[3].id));
    let spent = RecoveryQuery {
        attempts_below: 1,
        ..later
    };
    assert_eq!(
        store.recovery_candidates(a, &spent).await.unwrap().len(),
        1,
        "with one attempt allowed, only the lead that was running is left"
    );
    let runs = store.list_enrolments(a, leads[1].id).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].origin, Origin::Recovery);
    assert_eq!(runs[0].next_run_at, Some(at + secs(60)));
    let jobs = store
        .claim_jobs("w", at + secs(60), at + secs(60), secs(30), 50)
        .await
        .unwrap();
    assert_eq!(
        jobs.iter()
            .filter(|j| j.job.kind == "sequence_step")
            .count(),
        3,
        "two recovery steps and the manual run's"
    );
    // A reply brings a retired lead back.
    store
        .record_signal(a, leads[3].id, Signal::Reply, at)
        .await
        .unwrap();
    assert_eq!(store.recovery_candidates(a, &later).await.unwrap().len(), 4);
}

fn slot(start: Timestamp) -> Slot {
    Slot {
        starts_at: start,
        ends_at: start + secs(3600),
        time_zone: "America/Chicago".to_owned(),
        title: "Estimate".to_owned(),
        location: Some("12 Elm St".to_owned()),
    }
}

pub async fn appointments_book_reschedule_and_cancel_once(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let lead = lead_in(&store, a, "Jane", "4155552671").await;
    let start = t0() + secs(2 * 86_400);
    let reminder = |key: &str, at| NewJob {
        tenant_id: Some(a.id()),
        dedupe_key: Some(key.to_owned()),
        ..plain_job("appointment_reminder", at, 5)
    };
    let id = AppointmentId::new();
    assert!(matches!(
        store
            .book_appointment(
                b,
                NewAppointment {
                    id: AppointmentId::new(),
                    lead_id: lead.id,
                    slot: slot(start),
                    actor: "user:1".into(),
                    at: t0(),
                    reminders: vec![],
                },
            )
            .await,
        Err(DbError::NotFound)
    ));
    let booked = store
        .book_appointment(
            a,
            NewAppointment {
                id,
                lead_id: lead.id,
                slot: slot(start),
                actor: "user:1".into(),
                at: t0(),
                reminders: vec![reminder("r1", start - secs(7200))],
            },
        )
        .await
        .unwrap();
    assert_eq!(booked.revision, 1);
    assert_eq!(booked.state, AppointmentState::Scheduled);
    let read = store.get_appointment(a, id).await.unwrap().unwrap();
    assert_eq!(read, booked);
    assert_eq!(read.location.as_deref(), Some("12 Elm St"));
    assert!(store.get_appointment(b, id).await.unwrap().is_none());
    assert_eq!(
        store.get_lead(a, lead.id).await.unwrap().unwrap().status,
        LeadStatus::Booked
    );
    let kinds: Vec<LeadEventKind> = store
        .list_lead_events(a, lead.id, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&LeadEventKind::Appointment) && kinds.contains(&LeadEventKind::Status));

    let moved = store
        .change_appointment(
            a,
            id,
            1,
            AppointmentChange::Reschedule {
                slot: Slot {
                    location: None,
                    ..slot(start + secs(86_400))
                },
                reminders: vec![reminder("r2", start + secs(86_400 - 7200))],
            },
            "user:1",
            t0() + secs(10),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.revision, 2);
    assert_eq!(moved.starts_at, start + secs(86_400));
    assert_eq!(moved.location, None);
    assert!(
        store
            .change_appointment(
                a,
                id,
                1,
                AppointmentChange::Cancel,
                "user:2",
                t0() + secs(11)
            )
            .await
            .unwrap()
            .is_none(),
        "a change made on an old revision is refused"
    );
    assert!(
        store
            .change_appointment(
                b,
                id,
                2,
                AppointmentChange::Cancel,
                "user:2",
                t0() + secs(11)
            )
            .await
            .unwrap()
            .is_none()
    );
    let cancelled = store
        .change_appointment(
            a,
            id,
            2,
            AppointmentChange::Cancel,
            "user:2",
            t0() + secs(12),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, AppointmentState::Cancelled);
    assert_eq!(cancelled.revision, 3);
    assert!(
        store
            .change_appointment(
                a,
                id,
                3,
                AppointmentChange::Cancel,
                "user:2",
                t0() + secs(13)
            )
            .await
            .unwrap()
            .is_none(),
        "cancelled once"
    );
    let list = store.list_appointments(a, lead.id).await.unwrap();
    assert_eq!(list.len(), 1);
    let jobs = store
        .claim_jobs(
            "w",
            start + secs(86_400),
            start + secs(86_400),
            secs(30),
            50,
        )
        .await
        .unwrap();
    assert_eq!(
        jobs.iter()
            .filter(|j| j.job.kind == "appointment_reminder")
            .count(),
        2,
        "both revisions' reminders were queued"
    );
}

pub async fn ai_generations_add_up_per_organisation_and_month(store: S) {
    let a = tenant(&store, "A").await;
    let b = tenant(&store, "B").await;
    let generation = |tokens: i64, cached: bool, at: Timestamp| AiGeneration {
        id: uuid::Uuid::now_v7(),
        message_key: "seq:x:0".into(),
        model: "claude-test".into(),
        input_tokens: tokens,
        output_tokens: tokens / 10,
        cost_micros: tokens * 3,
        cached,
        outcome: "used".into(),
        at,
    };
    store
        .record_ai(
            a,
            "2026-03",
            generation(100, false, t0()),
            Some(("k1".into(), "Hi {{ first_name }}".into())),
        )
        .await
        .unwrap();
    store
        .record_ai(a, "2026-03", generation(50, false, t0() + secs(1)), None)
        .await
        .unwrap();
    // A second draft for the same key keeps the first.
    store
        .record_ai(
            a,
            "2026-04",
            generation(10, false, t0() + secs(2)),
            Some(("k1".into(), "other".into())),
        )
        .await
        .unwrap();
    assert_eq!(
        store.ai_cached(a, "k1").await.unwrap().as_deref(),
        Some("Hi {{ first_name }}")
    );
    assert_eq!(store.ai_cached(b, "k1").await.unwrap(), None);
    assert_eq!(
        store.ai_usage(a, "2026-03").await.unwrap(),
        AiUsage {
            input_tokens: 150,
            output_tokens: 15,
            cost_micros: 450
        }
    );
    assert_eq!(store.ai_usage(a, "2026-04").await.unwrap().tokens(), 11);
    assert_eq!(
        store.ai_usage(b, "2026-03").await.unwrap(),
        AiUsage::default()
    );
    let list = store.list_ai_generations(a, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|g| g.input_tokens).collect::<Vec<_>>(),
        [10, 50, 100],
        "newest first"
    );
    assert!(store.list_ai_generations(b, 10).await.unwrap().is_empty());
}
