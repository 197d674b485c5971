//! Shifts, cash movements and the Z report.
