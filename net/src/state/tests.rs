//! Every timer of `ConnState` on made-up instants: no runtime, no socket.
use super::*;

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn actions(st: &mut ConnState, now: Instant) -> Vec<Action> {
    st.handle_timeout(now);
    std::iter::from_fn(|| st.poll_action()).collect()
}

#[test]
fn no_timer_set_means_no_deadline() {
    let t0 = Instant::now();
    let mut st = ConnState::new(&Timers::default(), t0);
    assert_eq!(st.poll_timeout(), None);
    assert!(actions(&mut st, t0 + s(1_000_000)).is_empty());
}

#[test]
fn idle_timeout_reports_read_idle_then_closes_and_reads_push_it_back() {
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(30)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(st.poll_timeout(), Some(t0 + s(30)));
    assert!(actions(&mut st, t0 + s(29)).is_empty());
    st.on_read(t0 + s(20));
    st.on_write(t0 + s(45)); // writes do not count
    assert!(
        actions(&mut st, t0 + s(30)).is_empty(),
        "an early wake is harmless"
    );
    assert_eq!(st.poll_timeout(), Some(t0 + s(50)));
    assert_eq!(
        actions(&mut st, t0 + s(50)),
        [
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
    assert!(actions(&mut st, t0 + s(60)).is_empty(), "closed once");
}

#[test]
fn idle_events_repeat_each_period_and_never_close() {
    let t0 = Instant::now();
    let t = Timers {
        read_idle: Some(s(10)),
        write_idle: Some(s(4)),
        all_idle: Some(s(20)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(st.poll_timeout(), Some(t0 + s(4)));
    assert_eq!(actions(&mut st, t0 + s(4)), [Action::Idle(IdleKind::Write)]);
    assert_eq!(st.poll_timeout(), Some(t0 + s(8)));
    st.on_write(t0 + s(6));
    assert_eq!(st.poll_timeout(), Some(t0 + s(10)));
    assert_eq!(
        actions(&mut st, t0 + s(10)),
        [Action::Idle(IdleKind::Read), Action::Idle(IdleKind::Write)]
    );
    // still write-idle: the next Write event one period after the last one
    assert_eq!(st.poll_timeout(), Some(t0 + s(14)));
    assert_eq!(
        actions(&mut st, t0 + s(14)),
        [Action::Idle(IdleKind::Write)]
    );
    st.on_read(t0 + s(15));
    assert!(actions(&mut st, t0 + s(17)).is_empty());
    assert_eq!(st.poll_timeout(), Some(t0 + s(18)));
    assert_eq!(
        actions(&mut st, t0 + s(18)),
        [Action::Idle(IdleKind::Write)]
    );
    assert_eq!(st.poll_timeout(), Some(t0 + s(22)));
    // write-idle since 6 s, read at 15: Both fires at 15 + 20 (the later of the two)
    assert_eq!(
        actions(&mut st, t0 + s(35)),
        [
            Action::Idle(IdleKind::Read),
            Action::Idle(IdleKind::Write),
            Action::Idle(IdleKind::Both)
        ]
    );
}

#[test]
fn heartbeat_pings_when_write_idle_and_a_silent_peer_is_dead() {
    let t0 = Instant::now();
    let t = Timers {
        heartbeat: Some((s(10), s(35))),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(st.poll_timeout(), Some(t0 + s(10)));
    st.on_write(t0 + s(5)); // real traffic replaces the ping
    assert!(actions(&mut st, t0 + s(10)).is_empty());
    assert_eq!(actions(&mut st, t0 + s(15)), [Action::Ping]);
    assert_eq!(
        st.poll_timeout(),
        Some(t0 + s(25)),
        "the ping counts as a write"
    );
    st.on_read(t0 + s(20));
    assert_eq!(actions(&mut st, t0 + s(25)), [Action::Ping]);
    assert_eq!(actions(&mut st, t0 + s(35)), [Action::Ping]);
    assert_eq!(
        actions(&mut st, t0 + s(55)),
        [
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
}

#[test]
fn link_checks_go_out_on_silence_and_n_unanswered_close() {
    let t0 = Instant::now();
    let t = Timers {
        link_check: Some((s(60), 3)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(actions(&mut st, t0 + s(60)), [Action::LinkCheck]);
    st.on_read(t0 + s(70)); // answered
    assert_eq!(st.poll_timeout(), Some(t0 + s(130)));
    for k in 0..3 {
        assert_eq!(
            actions(&mut st, t0 + s(130 + 60 * k)),
            [Action::LinkCheck],
            "check {k}"
        );
    }
    assert_eq!(
        actions(&mut st, t0 + s(310)),
        [
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
}

#[test]
fn the_auth_deadline_closes_unless_authenticated() {
    let t0 = Instant::now();
    let t = Timers {
        auth: Some(s(5)),
        ..Timers::default()
    };
    let mut late = ConnState::new(&t, t0);
    let mut ok = late.clone();
    assert_eq!(late.poll_timeout(), Some(t0 + s(5)));
    assert_eq!(
        actions(&mut late, t0 + s(5)),
        [Action::Close(CloseReason::AuthTimeout)]
    );
    ok.on_authenticated();
    assert_eq!(ok.poll_timeout(), None);
    assert!(actions(&mut ok, t0 + s(5)).is_empty());
}

#[test]
fn the_call_window_deadline_asks_for_a_poll_once() {
    let t0 = Instant::now();
    let mut st = ConnState::new(&Timers::default(), t0);
    st.set_calls_deadline(Some(t0 + s(60)));
    assert_eq!(st.poll_timeout(), Some(t0 + s(60)));
    assert!(actions(&mut st, t0 + s(59)).is_empty());
    assert_eq!(actions(&mut st, t0 + s(60)), [Action::Calls]);
    assert_eq!(st.poll_timeout(), None, "until the window says again");
    assert!(actions(&mut st, t0 + s(61)).is_empty());
}

#[test]
fn closing_keeps_only_the_drain_deadline() {
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(1)),
        heartbeat: Some((s(1), s(3))),
        linger: s(2),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    st.start_close(t0 + s(10));
    assert!(st.is_closing());
    assert_eq!(st.poll_timeout(), Some(t0 + s(12)));
    assert!(
        actions(&mut st, t0 + s(11)).is_empty(),
        "no ping, no idle close"
    );
    assert_eq!(actions(&mut st, t0 + s(12)), [Action::Abort]);
    st.start_close(t0 + s(20));
    assert_eq!(
        st.poll_timeout(),
        Some(t0 + s(12)),
        "the first close counts"
    );
}

#[test]
fn a_dead_peer_gets_no_ping_in_the_same_breath() {
    let t0 = Instant::now();
    let t = Timers {
        heartbeat: Some((s(10), s(10))),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(
        actions(&mut st, t0 + s(10)),
        [
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn without_time_stamps_an_idle_peer_goes_between_the_timeout_and_a_quarter_more() {
    // the driver only notes that bytes came; the guard looks every 30 / 4 s
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(30)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert!(
        !st.uses_clock(),
        "an idle timeout alone needs no clock per read"
    );
    st.saw_read(); // at t0 + 1 s, say
    assert_eq!(
        st.poll_timeout(),
        Some(t0 + ms(7_500)),
        "a tick to note the read"
    );
    assert!(actions(&mut st, t0 + ms(7_500)).is_empty());
    // the read counts as at 7.5 s at the latest: idle from then
    assert_eq!(st.poll_timeout(), Some(t0 + ms(37_500)));
    assert!(actions(&mut st, t0 + ms(37_499)).is_empty());
    assert_eq!(
        actions(&mut st, t0 + ms(37_500)),
        [
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
}

#[test]
fn a_read_noted_just_before_the_idle_deadline_keeps_the_connection() {
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(8)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert!(actions(&mut st, t0 + s(7)).is_empty());
    st.saw_read();
    assert!(
        actions(&mut st, t0 + s(8)).is_empty(),
        "a read since the last look is not idleness"
    );
    assert_eq!(st.poll_timeout(), Some(t0 + s(16)));
}

#[test]
fn a_slowloris_that_never_completes_a_frame_is_closed_at_the_frame_timeout() {
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(120)),
        frame_timeout: Some(s(4)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    let mut now = t0;
    let mut closed_at = None;
    // one byte a second: never idle, never a whole frame
    for _ in 0..10 {
        now += s(1);
        st.saw_read();
        st.on_frames(false, true);
        while let Some(at) = st.poll_timeout().filter(|&at| at <= now) {
            if actions(&mut st, at).contains(&Action::Close(CloseReason::FrameTimeout)) {
                closed_at.get_or_insert(at);
            }
        }
    }
    let at = closed_at.expect("closed") - t0;
    assert!(at >= s(4) && at <= ms(5_000 + 1), "closed after {at:?}");
}

#[test]
fn frames_that_keep_completing_are_not_a_slowloris() {
    let t0 = Instant::now();
    let t = Timers {
        frame_timeout: Some(s(4)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    for k in 1..100 {
        // a partial frame is always left over, but frames complete between checks
        st.on_frames(true, true);
        assert!(actions(&mut st, t0 + s(k)).is_empty(), "at {k} s");
    }
}

#[test]
fn a_peer_that_takes_no_byte_for_the_write_timeout_is_a_slow_consumer() {
    let t0 = Instant::now();
    let t = Timers {
        write_timeout: Some(s(30)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(st.poll_timeout(), None, "nothing waits: no tick");
    st.on_write_blocked(true);
    let mut k = 0;
    let reason = loop {
        let at = st.poll_timeout().expect("ticks while blocked");
        k += 1;
        if k == 3 {
            st.saw_write(); // the peer took a little: the count starts again
        }
        let acts = actions(&mut st, at);
        if let Some(Action::Close(r)) = acts.last() {
            break (r.clone(), at - t0);
        }
    };
    assert_eq!(reason.0, CloseReason::SlowConsumer);
    // blocked since 0; progress noted at the third tick (22.5 s): 30 s more
    assert!(reason.1 >= s(52) && reason.1 <= s(61), "{:?}", reason.1);
    let mut unblocked = ConnState::new(&t, t0);
    unblocked.on_write_blocked(true);
    unblocked.on_write_blocked(false);
    assert_eq!(unblocked.poll_timeout(), None);
}

#[test]
fn the_read_idleness_that_closes_comes_right_before_the_close() {
    // a write-idle event and a read-idle event due in the same breath as the close
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(30)),
        read_idle: Some(s(30)),
        write_idle: Some(s(10)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert_eq!(
        actions(&mut st, t0 + s(31)),
        [
            Action::Idle(IdleKind::Write),
            Action::Idle(IdleKind::Read),
            Action::Close(CloseReason::IdleTimeout)
        ]
    );
}

/// Reads and writes only move deadlines later, so they leave `take_changed` false: a busy
/// connection's driver does not recompute its deadline per message, and its timer, set
/// for the old one, wakes early, finds nothing due and is set again.
#[test]
fn reads_and_writes_never_bring_the_deadline_earlier() {
    let t0 = Instant::now();
    let t = Timers {
        idle_timeout: Some(s(90)),
        read_idle: Some(s(20)),
        write_idle: Some(s(25)),
        all_idle: Some(s(40)),
        heartbeat: Some((s(30), s(60))),
        link_check: Some((s(15), 3)),
        ..Timers::default()
    };
    let mut st = ConnState::new(&t, t0);
    assert!(st.take_changed(), "a new state is read once");
    let mut deadline = st.poll_timeout().unwrap();
    // reads and writes in every order, at rising instants (a made-up, repeatable walk)
    let mut at = t0;
    for i in 0u64..200 {
        at += Duration::from_millis(1 + (i * 7919) % 3000);
        match i % 3 {
            0 => st.on_read(at),
            1 => st.on_write(at),
            _ => {
                st.on_read(at);
                st.on_write(at);
            }
        }
        assert!(!st.take_changed(), "step {i}");
        let next = st.poll_timeout().unwrap();
        assert!(next >= deadline, "step {i}: {next:?} before {deadline:?}");
        deadline = next;
    }
    // an early wake finds nothing due and asks for the timer to be set again
    assert!(actions(&mut st, at).is_empty());
    assert!(st.take_changed());
}
