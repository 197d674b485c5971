//! Who is logged in at each window, and the one gate every command passes.
//!
//! A session belongs to a window (its label): logging in at the main window
//! says nothing about the customer display. [`gate`] wraps the command
//! handler, so no command runs, whatever its name, before the role matrix
//! of `shouyin_api::roles` has admitted the session's user; a refused call
//! answers `forbidden` (or `not_logged_in`) and goes to the audit log.
//! Commands that record a name take a [`Caller`], the session's user, and
//! never a name from the UI.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use shouyin_api::dto::UserDto;
use shouyin_api::{roles, ApiError, Counter, CounterEvent, ErrorCode};
use tauri::ipc::{Channel, CommandArg, CommandItem, Invoke, InvokeError};
use tauri::{Manager, Runtime};

/// The logged-in user of each window, by window label.
#[derive(Debug, Default)]
pub struct Sessions {
    by_window: Mutex<HashMap<String, UserDto>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, UserDto>> {
        // A map of names: a panic elsewhere leaves nothing half-written.
        self.by_window.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, window: &str) -> Option<UserDto> {
        self.lock().get(window).cloned()
    }

    pub fn log_in(&self, window: &str, user: UserDto) {
        self.lock().insert(window.to_owned(), user);
    }

    pub fn log_out(&self, window: &str) {
        self.lock().remove(window);
    }
}

/// The windows that asked for the counter's feed (order changes, channel
/// health, alarms, sync), each on its own IPC channel. A Tauri event would
/// reach every window, the customer display included; a channel reaches
/// only the window that opened it, and the capabilities let only the main
/// window open one.
#[derive(Default)]
pub struct Feeds {
    channels: Mutex<Vec<Channel<CounterEvent>>>,
}

impl std::fmt::Debug for Feeds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feeds")
            .field("channels", &self.lock().len())
            .finish()
    }
}

impl Feeds {
    fn lock(&self) -> MutexGuard<'_, Vec<Channel<CounterEvent>>> {
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, channel: Channel<CounterEvent>) {
        self.lock().push(channel);
    }

    /// Send to every subscriber; one whose window is gone is dropped.
    pub fn send(&self, event: &CounterEvent) {
        self.lock()
            .retain(|channel| channel.send(event.clone()).is_ok());
    }
}

/// The user logged in at the calling window. A command that takes one
/// refuses a window with no session (the gate already has, for any command
/// that is not public).
#[derive(Debug, Clone)]
pub struct Caller(pub UserDto);

impl Caller {
    pub fn name(&self) -> String {
        self.0.name.clone()
    }
}

impl<'de, R: Runtime> CommandArg<'de, R> for Caller {
    fn from_command(command: CommandItem<'de, R>) -> Result<Self, InvokeError> {
        let webview = command.message.webview_ref();
        webview
            .try_state::<Sessions>()
            .and_then(|s| s.get(webview.label()))
            .map(Caller)
            .ok_or_else(|| {
                InvokeError::from(ApiError::new(
                    ErrorCode::NotLoggedIn,
                    format!("{} needs a logged-in user", command.name),
                ))
            })
    }
}

/// Put the role matrix in front of `handler`: a call the session's user may
/// not make is answered with the refusal after it is in the audit log, and
/// never reaches the command.
pub fn gate<R: Runtime>(
    handler: impl Fn(Invoke<R>) -> bool + Send + Sync + 'static,
) -> impl Fn(Invoke<R>) -> bool + Send + Sync + 'static {
    move |invoke: Invoke<R>| {
        let webview = invoke.message.webview_ref();
        let user = webview
            .try_state::<Sessions>()
            .and_then(|s| s.get(webview.label()));
        let command = invoke.message.command().to_owned();
        let Err(refusal) = roles::authorize(&command, user.as_ref()) else {
            return handler(invoke);
        };
        tracing::warn!(
            window = webview.label(),
            user = user.as_ref().map(|u| u.name.as_str()),
            "refused {command}: {refusal}"
        );
        let counter = webview.try_state::<Counter>().map(|c| c.inner().clone());
        tauri::async_runtime::spawn(async move {
            if let Some(counter) = counter {
                if let Err(e) = counter
                    .audit_refused(user.as_ref(), &command, &refusal)
                    .await
                {
                    tracing::error!("cannot audit the refused {command}: {e}");
                }
            }
            invoke.resolver.reject(refusal);
        });
        true
    }
}
