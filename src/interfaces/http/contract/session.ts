import { z } from 'zod';
import { ROLES } from '../../../kernel/actor.js';
import { defineRoute } from './route.js';

const sessionView = z.object({
  actor: z.object({ id: z.string(), name: z.string(), role: z.enum(ROLES) }).describe('the token the session acts as'),
  csrf: z.string().describe('send it back as the header X-Sluice-CSRF on every POST made with the session cookie'),
  expiresAt: z.number().describe('when the session ends unless used before (each use moves it on, up to 7 days and never past the token’s expiry)'),
});

/** The dashboard's browser session: a token exchanged for an HttpOnly cookie and a CSRF token. */
export const sessionApi = {
  login: defineRoute({
    method: 'POST',
    path: '/api/v1/session',
    summary: 'Log a browser in with a token: sets the HttpOnly, SameSite=Strict session cookie and answers its CSRF token',
    tag: 'session',
    auth: 'login',
    body: z.strictObject({ token: z.string().min(1).max(200).describe('an API token of any role') }),
    bodyLimit: 4096,
    response: sessionView,
    audit: { action: 'session.login' },
  }),
  current: defineRoute({
    method: 'GET',
    path: '/api/v1/session',
    summary: 'The session of the cookie sent: who it acts as and its CSRF token; 401 when there is none',
    tag: 'session',
    auth: 'session',
    response: sessionView,
  }),
  logout: defineRoute({
    method: 'POST',
    path: '/api/v1/session/logout',
    summary: 'End the session of the cookie sent, and clear the cookie',
    tag: 'session',
    auth: 'session',
    body: z.strictObject({}),
    bodyLimit: 1024,
    response: z.object({ ended: z.boolean() }),
    audit: { action: 'session.logout' },
  }),
};
