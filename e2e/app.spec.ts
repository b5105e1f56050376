import { expect, test } from 'playwright/test';

test('the app page loads and shows its title', async ({ page }) => {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  await page.goto('/');
  await expect(page).toHaveTitle('LRP Lens');
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('LRP Lens');
  expect(errors).toEqual([]);
});
