-- A realistic small PBX for the old FusionPBX (written against FusionPBX 5.3.0's schema), loaded by
-- `pbx-cutover lab up ... --fusionpbx --fusionpbx-seed` into the old slot's database after its install.
-- The loader sets :lab_domain (the domain the install made: the old web UI's address) and runs this
-- in one transaction (psql -1, ON_ERROR_STOP). Fixed UUIDs: a reload is refused by the primary keys.
--
-- Domain :lab_domain  extensions 1001-1005 (each with a voicemail box), ring group 2000 "sales"
--                     (1001, 1002, 1003), IVR 5000 "main" (1 sales, 2 support 1004, 0 operator 1001),
--                     outbound route "us-long-distance" over gateway "carrier-a",
--                     inbound route +15551230100 -> IVR 5000, a disabled route "old-night-mode"
-- Domain branch.pbx.test  extensions 201-202 with voicemail, inbound route +15551230200 -> 201

\set ON_ERROR_STOP 1

INSERT INTO v_domains (domain_uuid, domain_name, domain_enabled, domain_description)
VALUES ('5eed0000-0000-4000-8000-000000000002', 'branch.pbx.test', true, 'branch office');

CREATE TEMP TABLE seed_domain AS
SELECT domain_uuid AS main, '5eed0000-0000-4000-8000-000000000002'::uuid AS branch
FROM v_domains WHERE domain_name = :'lab_domain';

-- extensions: number, caller id, voicemail on, timeouts and forwards as a user sets them
INSERT INTO v_extensions (extension_uuid, domain_uuid, extension, number_alias, password, accountcode,
  effective_caller_id_name, effective_caller_id_number, outbound_caller_id_name, outbound_caller_id_number,
  directory_first_name, directory_last_name, directory_visible, directory_exten_visible, max_registrations,
  limit_max, limit_destination, user_context, toll_allow, call_timeout, call_group, user_record, hold_music,
  forward_busy_destination, forward_busy_enabled, forward_no_answer_destination, forward_no_answer_enabled,
  do_not_disturb, enabled, description)
SELECT u::uuid, d, ext, NULL, pw, acct, name, ext, 'Acme Corp', '+15551230100', first, last, 'true', 'true', '2',
  '5', 'error/user_busy', ctx, toll, timeout, grp, rec, 'local_stream://default', fwd_busy, fwd_busy_on, NULL, 'false',
  'false', 'true', descr
FROM seed_domain, (VALUES
  ('5eed0000-0000-4000-8000-000000001001', 'main', '1001', 'Xk8#vQ2m!p9z', '1001', 'Alice Reception', 'Alice', 'Reception', 'domestic,local', 30, 'sales', 'all', NULL, 'false', 'front desk, operator'),
  ('5eed0000-0000-4000-8000-000000001002', 'main', '1002', 'Rt4$wL7n@c3y', '1002', 'Bob Sales', 'Bob', 'Sales', 'domestic,local', 25, 'sales', NULL, '1001', 'true', NULL),
  ('5eed0000-0000-4000-8000-000000001003', 'main', '1003', 'Mz6&hJ1q#e5u', '1003', 'Carol Sales', 'Carol', 'Sales', 'domestic,local,international', 25, 'sales', NULL, NULL, 'false', NULL),
  ('5eed0000-0000-4000-8000-000000001004', 'main', '1004', 'Pw2*dF8s%k4t', '1004', 'Dave Support', 'Dave', 'Support', 'domestic,local', 40, 'support', 'inbound', NULL, 'false', 'support line'),
  ('5eed0000-0000-4000-8000-000000001005', 'main', '1005', 'Qa9!gB3v&x7r', '1005', 'Conference Room', 'Conference', 'Room', 'local', 20, NULL, NULL, NULL, 'false', 'polycom in room 2'),
  ('5eed0000-0000-4000-8000-000000000201', 'branch', '201', 'Hn5@tY2k*w8e', '201', 'Erin Branch', 'Erin', 'Branch', 'domestic,local', 30, NULL, NULL, NULL, 'false', NULL),
  ('5eed0000-0000-4000-8000-000000000202', 'branch', '202', 'Ju7#rE4p!s1d', '202', 'Frank Branch', 'Frank', 'Branch', 'domestic,local', 30, NULL, NULL, NULL, 'false', NULL)
) AS e(u, which, ext, pw, acct, name, first, last, toll, timeout, grp, rec, fwd_busy, fwd_busy_on, descr),
LATERAL (SELECT CASE WHEN which = 'main' THEN seed_domain.main ELSE seed_domain.branch END AS d) AS dd,
LATERAL (SELECT CASE WHEN which = 'main' THEN :'lab_domain' ELSE 'branch.pbx.test' END AS ctx) AS c;

-- a voicemail box per extension (FusionPBX pairs them by number)
INSERT INTO v_voicemails (voicemail_uuid, domain_uuid, voicemail_id, voicemail_password, greeting_id,
  voicemail_mail_to, voicemail_transcription_enabled, voicemail_attach_file, voicemail_file,
  voicemail_local_after_email, voicemail_enabled, voicemail_description, voicemail_tutorial)
SELECT ('5eed0000-0000-4000-8000-1' || lpad(e.extension, 11, '0'))::uuid, e.domain_uuid, e.extension,
  lpad(e.extension, 4, '9'), NULL, lower(e.directory_first_name) || '@acme.pbx.test', 'false', 'true',
  'attach', 'true', 'true', e.effective_caller_id_name, 'false'
FROM v_extensions e WHERE e.extension_uuid::text LIKE '5eed0000-%';

-- the carrier trunk
INSERT INTO v_gateways (gateway_uuid, domain_uuid, gateway, username, password, auth_username, realm, from_user,
  from_domain, proxy, register_proxy, outbound_proxy, expire_seconds, register, register_transport,
  retry_seconds, caller_id_in_from, codec_prefs, channels, extension_in_contact, context, profile, enabled,
  description)
SELECT '5eed0000-0000-4000-8000-00000000a001', main, 'carrier-a', 'acme-trunk', 'Tr7#unK9!carrier', 'acme-trunk',
  'sip.carrier-a.test', 'acme-trunk', 'sip.carrier-a.test', 'sip.carrier-a.test', NULL, NULL, 800, 'true', 'udp',
  30, 'true', 'PCMU,PCMA', 10, 'false', 'public', 'external', 'true', 'primary carrier'
FROM seed_domain;

-- dialplans: an outbound route, two inbound routes, the ring group's, the IVR's, and a disabled route
INSERT INTO v_dialplans (dialplan_uuid, domain_uuid, app_uuid, dialplan_context, dialplan_name, dialplan_number,
  dialplan_continue, dialplan_order, dialplan_enabled, dialplan_description, dialplan_xml)
SELECT u::uuid, CASE WHEN ctx = 'public' AND which = 'none' THEN NULL WHEN which = 'branch' THEN branch ELSE main END,
  app::uuid, CASE WHEN ctx = 'domain' THEN :'lab_domain' ELSE ctx END, name, num, 'false', ord, enabled, descr,
  '<extension name="' || name || '" continue="false" uuid="' || u || '"></extension>'
FROM seed_domain, (VALUES
  ('5eed0000-0000-4000-8000-00000000d001', 'main', '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3', 'domain', 'us-long-distance', NULL, 100, 'true', 'outbound 11 digits via carrier-a'),
  ('5eed0000-0000-4000-8000-00000000d002', 'main', 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4', 'public', '+15551230100', '+15551230100', 100, 'true', 'main number to the IVR'),
  ('5eed0000-0000-4000-8000-00000000d003', 'branch', 'c03b422e-13a8-bd1b-e42b-b6b9b4d27ce4', 'public', '+15551230200', '+15551230200', 100, 'true', 'branch number to 201'),
  ('5eed0000-0000-4000-8000-00000000d004', 'main', '1d61fb65-1eec-bc73-a6ee-a6203b4fe6f2', 'domain', 'sales', '2000', 101, 'true', 'ring group sales'),
  ('5eed0000-0000-4000-8000-00000000d005', 'main', 'a5788e9b-58bc-bd1b-df59-fff5d51253ab', 'domain', 'main', '5000', 101, 'true', 'IVR main'),
  ('5eed0000-0000-4000-8000-00000000d006', 'main', '8c914ec3-9fc0-8ab5-4cda-6c9288bdc9a3', 'domain', 'old-night-mode', NULL, 90, 'false', 'kept for reference, disabled')
) AS r(u, which, app, ctx, name, num, ord, enabled, descr);

INSERT INTO v_dialplan_details (dialplan_detail_uuid, dialplan_uuid, domain_uuid, dialplan_detail_tag,
  dialplan_detail_type, dialplan_detail_data, dialplan_detail_break, dialplan_detail_group,
  dialplan_detail_order, dialplan_detail_enabled)
SELECT u::uuid, p::uuid, (SELECT domain_uuid FROM v_dialplans WHERE dialplan_uuid = p::uuid), tag, typ, data, NULL,
  0, ord, true
FROM (VALUES
  ('5eed0000-0000-4000-8000-0000000de101', '5eed0000-0000-4000-8000-00000000d001', 'condition', 'destination_number', '^\+?1?(\d{10})$', 10),
  ('5eed0000-0000-4000-8000-0000000de102', '5eed0000-0000-4000-8000-00000000d001', 'action', 'set', 'sip_h_X-accountcode=${accountcode}', 20),
  ('5eed0000-0000-4000-8000-0000000de103', '5eed0000-0000-4000-8000-00000000d001', 'action', 'set', 'effective_caller_id_number=${outbound_caller_id_number}', 30),
  ('5eed0000-0000-4000-8000-0000000de104', '5eed0000-0000-4000-8000-00000000d001', 'action', 'bridge', 'sofia/gateway/5eed0000-0000-4000-8000-00000000a001/1$1', 40),
  ('5eed0000-0000-4000-8000-0000000de201', '5eed0000-0000-4000-8000-00000000d002', 'condition', 'destination_number', '^\+?15551230100$', 10),
  ('5eed0000-0000-4000-8000-0000000de202', '5eed0000-0000-4000-8000-00000000d002', 'action', 'transfer', '5000 XML ' || :'lab_domain', 20),
  ('5eed0000-0000-4000-8000-0000000de301', '5eed0000-0000-4000-8000-00000000d003', 'condition', 'destination_number', '^\+?15551230200$', 10),
  ('5eed0000-0000-4000-8000-0000000de302', '5eed0000-0000-4000-8000-00000000d003', 'action', 'transfer', '201 XML branch.pbx.test', 20),
  ('5eed0000-0000-4000-8000-0000000de401', '5eed0000-0000-4000-8000-00000000d004', 'condition', 'destination_number', '^2000$', 10),
  ('5eed0000-0000-4000-8000-0000000de402', '5eed0000-0000-4000-8000-00000000d004', 'action', 'ring_ready', '', 20),
  ('5eed0000-0000-4000-8000-0000000de403', '5eed0000-0000-4000-8000-00000000d004', 'action', 'lua', 'app.lua ring_groups', 30),
  ('5eed0000-0000-4000-8000-0000000de501', '5eed0000-0000-4000-8000-00000000d005', 'condition', 'destination_number', '^5000$', 10),
  ('5eed0000-0000-4000-8000-0000000de502', '5eed0000-0000-4000-8000-00000000d005', 'action', 'answer', '', 20),
  ('5eed0000-0000-4000-8000-0000000de503', '5eed0000-0000-4000-8000-00000000d005', 'action', 'ivr', '5eed0000-0000-4000-8000-00000000e001', 30),
  ('5eed0000-0000-4000-8000-0000000de601', '5eed0000-0000-4000-8000-00000000d006', 'condition', 'destination_number', '^9(\d+)$', 10),
  ('5eed0000-0000-4000-8000-0000000de602', '5eed0000-0000-4000-8000-00000000d006', 'action', 'bridge', 'sofia/gateway/5eed0000-0000-4000-8000-00000000a001/$1', 20)
) AS d(u, p, tag, typ, data, ord);

-- inbound destinations (what the Destinations page lists) for the two numbers
INSERT INTO v_destinations (destination_uuid, domain_uuid, dialplan_uuid, destination_type, destination_number,
  destination_context, destination_app, destination_data, destination_enabled, destination_description)
SELECT '5eed0000-0000-4000-8000-00000000f001'::uuid, main, '5eed0000-0000-4000-8000-00000000d002'::uuid, 'inbound', '+15551230100',
  'public', 'transfer', '5000 XML ' || :'lab_domain', 'true', 'main number'
FROM seed_domain
UNION ALL
SELECT '5eed0000-0000-4000-8000-00000000f002'::uuid, branch, '5eed0000-0000-4000-8000-00000000d003'::uuid, 'inbound', '+15551230200',
  'public', 'transfer', '201 XML branch.pbx.test', 'true', 'branch number'
FROM seed_domain;

-- ring group "sales"
INSERT INTO v_ring_groups (ring_group_uuid, domain_uuid, dialplan_uuid, ring_group_name, ring_group_extension,
  ring_group_context, ring_group_call_timeout, ring_group_strategy, ring_group_timeout_app,
  ring_group_timeout_data, ring_group_cid_name_prefix, ring_group_ringback, ring_group_call_forward_enabled,
  ring_group_follow_me_enabled, ring_group_enabled, ring_group_description)
SELECT '5eed0000-0000-4000-8000-00000000c001', main, '5eed0000-0000-4000-8000-00000000d004', 'sales', '2000',
  :'lab_domain', 30, 'simultaneous', 'transfer', '1001 XML ' || :'lab_domain', 'Sales', '${us-ring}', 'true',
  'true', 'true', 'sales team'
FROM seed_domain;

INSERT INTO v_ring_group_destinations (ring_group_destination_uuid, domain_uuid, ring_group_uuid,
  destination_number, destination_delay, destination_timeout, destination_enabled, destination_prompt)
SELECT u::uuid, main, '5eed0000-0000-4000-8000-00000000c001', num, delay, 30, true, NULL
FROM seed_domain, (VALUES
  ('5eed0000-0000-4000-8000-0000000c0101', '1001', 10),
  ('5eed0000-0000-4000-8000-0000000c0102', '1002', 0),
  ('5eed0000-0000-4000-8000-0000000c0103', '1003', 0)
) AS g(u, num, delay);

-- IVR menu "main"
INSERT INTO v_ivr_menus (ivr_menu_uuid, domain_uuid, dialplan_uuid, ivr_menu_name, ivr_menu_extension,
  ivr_menu_language, ivr_menu_greet_long, ivr_menu_greet_short, ivr_menu_invalid_sound, ivr_menu_exit_sound,
  ivr_menu_confirm_attempts, ivr_menu_timeout, ivr_menu_exit_app, ivr_menu_exit_data,
  ivr_menu_inter_digit_timeout, ivr_menu_max_failures, ivr_menu_max_timeouts, ivr_menu_digit_len,
  ivr_menu_direct_dial, ivr_menu_ringback, ivr_menu_context, ivr_menu_enabled, ivr_menu_description)
SELECT '5eed0000-0000-4000-8000-00000000e001', main, '5eed0000-0000-4000-8000-00000000d005', 'main', '5000', 'en',
  'phrase:demo_ivr_main_menu', 'phrase:demo_ivr_main_menu_short', 'ivr/ivr-that_was_an_invalid_entry.wav',
  'silence_stream://100', 1, 3000, 'transfer', '1001 XML ' || :'lab_domain', 2000, 3, 3, 5, 'true', '${us-ring}',
  :'lab_domain', 'true', 'main menu'
FROM seed_domain;

INSERT INTO v_ivr_menu_options (ivr_menu_option_uuid, ivr_menu_uuid, domain_uuid, ivr_menu_option_digits,
  ivr_menu_option_action, ivr_menu_option_param, ivr_menu_option_order, ivr_menu_option_description,
  ivr_menu_option_enabled)
SELECT u::uuid, '5eed0000-0000-4000-8000-00000000e001', main, digits, 'menu-exec-app', param, ord, descr, true
FROM seed_domain, (VALUES
  ('5eed0000-0000-4000-8000-0000000e0101', '1', 'transfer 2000 XML ' || :'lab_domain', 10, 'sales'),
  ('5eed0000-0000-4000-8000-0000000e0102', '2', 'transfer 1004 XML ' || :'lab_domain', 20, 'support'),
  ('5eed0000-0000-4000-8000-0000000e0103', '0', 'transfer 1001 XML ' || :'lab_domain', 30, 'operator')
) AS o(u, digits, param, ord, descr);

DROP TABLE seed_domain;
