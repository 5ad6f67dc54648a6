//! Helpers shared by the end-to-end tests (namespaces, throwaway users, servers on loopback).
