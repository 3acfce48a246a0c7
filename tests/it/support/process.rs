//! What the real-server harnesses (nginx, Caddy, chromedriver) share: a free loopback port, and
//! stopping a child process cleanly.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A loopback port that was free a moment ago (bound and released); harnesses retry if someone
/// takes it before their server binds it.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// SIGTERM lets a server stop its own workers (a SIGKILLed nginx master would orphan them);
/// SIGKILL only if it is still running after 5 s. Waiting reaps the process: no zombie.
pub fn stop(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
    }
    let _ = child.wait();
}
