-- demo step 7: a comment only (the fingerprint changes, the types do not)
comment on table public.crates is 'Sealed work units placed in node slots.';
