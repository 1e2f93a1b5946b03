"""Tests of the payment service (payment_gateway/): its API in-process, its fault flags, and the real process."""
