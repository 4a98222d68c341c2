-- demo step 5: an enum label added
alter type public.task_status add value if not exists 'paused' after 'running';
