//! Black-box integration scenarios: the `testbed` binary against the mock Runtime API, over
//! real sockets. One module per behaviour. Built as the `integration` test of the examples
//! package (so that `CARGO_BIN_EXE_testbed` exists).

mod support;

mod concurrent_sleeps_overlap;
mod context_exposes_every_invocation_field;
mod cpu_bound_handlers_use_two_cores;
mod echo_round_trip;
mod handler_error_is_reported_and_slot_goes_on;
mod handler_panic_is_reported_and_slot_is_rebuilt;
mod handler_pool_smaller_than_slots_limits_polling;
mod hung_handler_past_deadline_frees_its_slot_managed;
mod init_failure_is_posted_and_exits;
mod invalid_handler_pool_size_is_an_init_error;
mod invalid_max_concurrency_is_an_init_error;
mod invalid_runtime_api_is_reported;
mod invalid_worker_threads_is_an_init_error;
mod large_payloads_pass_whole;
mod managed_mode_logs_json_per_invocation;
mod missing_deadline_header_is_tolerated;
mod mixed_events_are_each_answered_exactly_once;
mod next_failure_exits_classic_and_is_retried_managed;
mod prefixed_runtime_api_endpoint_works;
mod rejected_answers_are_logged_and_survived;
mod sigterm_finishes_in_flight_then_exits_zero;
mod slots_park_one_next_each;
mod trace_id_env_var_follows_mode;
mod undecodable_event_is_unmarshal_error;
