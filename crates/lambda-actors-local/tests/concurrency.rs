//! Slots, the bounded queue, rejection when busy, and callers that go away.

mod common;

use common::{invoke, spawn_poller, Client, FakeRuntime, Harness};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[test]
fn four_invokes_run_in_parallel_with_four_slots() {
    let h = Harness::with(|c| c.max_concurrency = 4);
    for _ in 0..4 {
        spawn_poller(&h.runtime_api, |rt, event| {
            std::thread::sleep(Duration::from_millis(700));
            rt.respond(&event.request_id(), "application/json", &event.body);
        });
    }
    h.wait_polling(4);
    let start = Instant::now();
    let callers: Vec<_> = (0..4)
        .map(|i| {
            let addr = h.addr;
            std::thread::spawn(move || invoke(addr, i.to_string().as_bytes()))
        })
        .collect();
    for (i, caller) in callers.into_iter().enumerate() {
        assert_eq!(caller.join().unwrap().text(), i.to_string());
    }
    let took = start.elapsed();
    // One after the other would take 2.8 s.
    assert!(took >= Duration::from_millis(700), "{took:?}");
    assert!(took < Duration::from_millis(1900), "4 invokes of 700 ms took {took:?}");
    assert_eq!(h.stats().invocations, 4);
}

/// A poller that holds each event until told to answer it.
fn held_poller(h: &Harness) -> (mpsc::Receiver<String>, mpsc::Sender<()>) {
    let (seen_tx, seen_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = std::sync::Mutex::new(go_rx);
    spawn_poller(&h.runtime_api, move |rt, event| {
        let id = event.request_id();
        seen_tx.send(id.clone()).unwrap();
        go_rx.lock().unwrap().recv_timeout(Duration::from_secs(20)).unwrap();
        rt.respond(&id, "application/json", &event.body);
    });
    (seen_rx, go_tx)
}

#[test]
fn past_the_queue_limit_invokes_get_429() {
    let h = Harness::with(|c| {
        c.max_concurrency = 1;
        c.queue_limit = 2;
    });
    let (seen, go) = held_poller(&h);
    h.wait_polling(1);
    let callers: Vec<_> = (0..3)
        .map(|i| {
            let addr = h.addr;
            let caller = std::thread::spawn(move || invoke(addr, i.to_string().as_bytes()));
            if i == 0 {
                seen.recv_timeout(Duration::from_secs(10)).unwrap();
            }
            caller
        })
        .collect();
    h.wait_until("two queued invokes", |s| s.queued == 2 && s.busy == 1);
    let start = Instant::now();
    let refused = invoke(h.addr, b"3");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(refused.status, 429);
    assert_eq!(refused.json()["errorType"], "TooManyRequestsException");
    assert!(refused.json()["errorMessage"].as_str().unwrap().contains("queued"));
    // Released one by one, all three queued or running invokes complete, in order.
    for _ in 0..3 {
        go.send(()).unwrap();
    }
    for (i, caller) in callers.into_iter().enumerate() {
        let reply = caller.join().unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.text(), i.to_string());
    }
}

#[test]
fn reject_when_busy_fails_at_once_with_runtime_unavailable() {
    let h = Harness::with(|c| {
        c.max_concurrency = 2;
        c.reject_when_busy = true;
    });
    let (seen_a, go_a) = held_poller(&h);
    let (seen_b, go_b) = held_poller(&h);
    h.wait_polling(2);
    let callers: Vec<_> = (0..2)
        .map(|i| {
            let addr = h.addr;
            std::thread::spawn(move || invoke(addr, i.to_string().as_bytes()))
        })
        .collect();
    seen_a.recv_timeout(Duration::from_secs(10)).unwrap();
    seen_b.recv_timeout(Duration::from_secs(10)).unwrap();
    let start = Instant::now();
    let refused = invoke(h.addr, b"{}");
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["errorType"], "Runtime.Unavailable");
    assert_eq!(h.stats().queued, 0);
    go_a.send(()).unwrap();
    go_b.send(()).unwrap();
    for caller in callers {
        assert_eq!(caller.join().unwrap().status, 200);
    }
    // A slot is free again: the next invoke runs.
    h.wait_polling(1);
    let later = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"7")
    });
    // Whichever poller takes it may answer at once.
    go_a.send(()).unwrap();
    go_b.send(()).unwrap();
    assert_eq!(later.join().unwrap().text(), "7");
}

#[test]
fn invokes_wait_for_a_runtime_that_starts_later() {
    let h = Harness::with(|c| c.reject_when_busy = true);
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"\"early\"")
    });
    h.wait_until("the invoke to queue", |s| s.queued == 1);
    spawn_poller(&h.runtime_api, |rt, event| {
        rt.respond(&event.request_id(), "application/json", &event.body);
    });
    assert_eq!(caller.join().unwrap().text(), "\"early\"");
}

#[test]
fn a_caller_that_disconnects_leaves_the_queue() {
    let h = Harness::with(|c| {
        c.max_concurrency = 1;
        c.queue_limit = 1;
    });
    let (seen, go) = held_poller(&h);
    h.wait_polling(1);
    let first = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"1")
    });
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    // A second caller queues, then hangs up.
    let mut gone = Client::connect(h.addr);
    gone.send("POST", "/invoke", &[], b"2");
    h.wait_until("the second invoke to queue", |s| s.queued == 1);
    drop(gone);
    h.wait_until("the queue to empty", |s| s.queued == 0);
    // Its place is free for a third, which runs after the first.
    let third = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"3")
    });
    h.wait_until("the third invoke to queue", |s| s.queued == 1);
    go.send(()).unwrap();
    go.send(()).unwrap();
    assert_eq!(first.join().unwrap().text(), "1");
    assert_eq!(third.join().unwrap().text(), "3");
    assert_eq!(h.stats().invocations, 2);
}

#[test]
fn a_caller_that_disconnects_mid_invocation_does_not_wedge_the_slot() {
    let h = Harness::with(|c| c.max_concurrency = 1);
    let (seen, go) = held_poller(&h);
    h.wait_polling(1);
    let mut gone = Client::connect(h.addr);
    gone.send("POST", "/invoke", &[], b"1");
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    drop(gone);
    // The runtime's answer is accepted and dropped; the slot serves the next caller.
    go.send(()).unwrap();
    h.wait_until("the slot to free", |s| s.busy == 0);
    let next = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"2")
    });
    seen.recv_timeout(Duration::from_secs(10)).unwrap();
    go.send(()).unwrap();
    assert_eq!(next.join().unwrap().text(), "2");
}

#[test]
fn a_runtime_that_disconnects_while_parked_loses_no_invoke() {
    let h = Harness::with(|_| {});
    // A poller parks /next, then goes away.
    let mut quitter = FakeRuntime::connect(&h.runtime_api);
    quitter
        .client()
        .send("GET", "/2018-06-01/runtime/invocation/next", &[], b"");
    h.wait_polling(1);
    drop(quitter);
    h.wait_until("the parked /next to go", |s| s.polling == 0);
    let caller = std::thread::spawn({
        let addr = h.addr;
        move || invoke(addr, b"\"kept\"")
    });
    h.wait_until("the invoke to queue", |s| s.queued == 1);
    spawn_poller(&h.runtime_api, |rt, event| {
        rt.respond(&event.request_id(), "application/json", &event.body);
    });
    assert_eq!(caller.join().unwrap().text(), "\"kept\"");
}
